import type { DeadLetter, DeadLetterStore } from './transport.js'

/** One part of a combined dead-letter store: the label its ids get (`<label>:<id>`), and its store. */
export type LabelledDeadLetters = readonly [label: string, store: DeadLetterStore | undefined]

/**
 * The dead letters of several tiers as one store (a migration's two tiers, a router's routes): ids are
 * prefixed with the label of the tier they live in, and `redrive` / `purge` hand each id to its tier.
 * Undefined when no part has a store. Labels must not contain `:`.
 */
export function combineDeadLetters(parts: readonly LabelledDeadLetters[]): DeadLetterStore | undefined {
  const stores = new Map<string, DeadLetterStore>()
  for (const [label, store] of parts) if (store) stores.set(label, store)
  if (stores.size === 0) return undefined
  /** Ids by the store they belong to; ids of no known label are ignored (they name nothing here). */
  const split = (ids: readonly string[]) => {
    const by = new Map<DeadLetterStore, string[]>()
    for (const id of ids) {
      const at = id.indexOf(':')
      const store = at > 0 ? stores.get(id.slice(0, at)) : undefined
      if (!store) continue
      const list = by.get(store) ?? []
      list.push(id.slice(at + 1))
      by.set(store, list)
    }
    return [...by]
  }
  const sum = async (ids: readonly string[], act: (store: DeadLetterStore, ids: string[]) => Promise<number>) => {
    let n = 0
    for (const [store, own] of split(ids)) n += await act(store, own)
    return n
  }
  return {
    async list(options) {
      const out: DeadLetter[] = []
      for (const [label, store] of stores)
        for (const d of await store.list(options)) out.push({ ...d, id: `${label}:${d.id}` })
      // Each tier returns up to `limit` of its oldest; the oldest `limit` of all are among them.
      out.sort((a, b) => a.failedAt.localeCompare(b.failedAt))
      return options?.limit === undefined ? out : out.slice(0, options.limit)
    },
    redrive: (ids) => sum(ids, (store, own) => store.redrive(own)),
    purge: (ids) => sum(ids, (store, own) => store.purge(own)),
  }
}
