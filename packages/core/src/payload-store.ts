/**
 * Where claim-check keeps event bodies too big for their tier (see `claimCheckTransport`). A store is given
 * ids, never references or locations: the id is 32 lowercase hex digits tierbus generated, and the store
 * maps it to a place inside its own configured bucket / table / key prefix, so a message can never make it
 * read anywhere else.
 *
 * A store MUST:
 * - resolve `put` only once the body is durable (a consumer on another machine can `get` it);
 * - return exactly the text stored under `id` from `get`, or undefined when there is none (expired, never
 *   stored); throw only when the store itself failed (the delivery is retried);
 * - keep bodies at least as long as the tier keeps the messages that reference them (see `retention`).
 */
export interface PayloadStore {
  /** Short name, also the scheme of its references (`s3:<id>`): 1-20 lowercase letters or digits. */
  readonly kind: string
  /** Stores `body` (the JSON text of an event's data) under `id`. */
  put(id: string, body: string): Promise<void>
  /** The body stored under `id`, or undefined when there is none. */
  get(id: string): Promise<string | undefined>
  /** Releases connections the store opened itself (never a client the app passed in). Idempotent. */
  close?(): Promise<void>
}

const STORE_KIND = /^[a-z0-9]{1,20}$/
const PAYLOAD_ID = /^[0-9a-f]{32}$/

/** True when `kind` is a valid store kind. */
export function isPayloadStoreKind(kind: unknown): kind is string {
  return typeof kind === 'string' && STORE_KIND.test(kind)
}

/** True when `id` has the grammar of an id tierbus generates (what a store may safely turn into a key). */
export function isPayloadId(id: unknown): id is string {
  return typeof id === 'string' && PAYLOAD_ID.test(id)
}

/** A new random payload id: 32 lowercase hex digits (128 bits). */
export function newPayloadId(): string {
  return Array.from(globalThis.crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join(
    '',
  )
}

/** The reference a message carries for a body in `store`: `<kind>:<id>`. */
export function payloadRef(store: PayloadStore, id: string): string {
  return `${store.kind}:${id}`
}

/** The id of `ref` when it is a reference `store` issued (`<its kind>:<32 hex>`); undefined for anything else. */
export function payloadIdOf(store: PayloadStore, ref: unknown): string | undefined {
  if (typeof ref !== 'string' || ref.length !== store.kind.length + 33 || !ref.startsWith(`${store.kind}:`))
    return undefined
  const id = ref.slice(store.kind.length + 1)
  return isPayloadId(id) ? id : undefined
}

/** Options of `memoryPayloadStore`. */
export interface MemoryPayloadStoreOptions {
  /** How long a body is kept, ms (default 7 days). */
  retentionMs?: number
}

/** An in-process payload store (tests, the memory tier): bodies kept for `retentionMs`. */
export function memoryPayloadStore(options: MemoryPayloadStoreOptions = {}): PayloadStore & { readonly size: number } {
  const retentionMs = options.retentionMs ?? PAYLOAD_RETENTION_DEFAULT_MS
  const bodies = new Map<string, { body: string; expiresAt: number }>()
  return {
    kind: 'memory',
    get size() {
      return bodies.size
    },
    async put(id, body) {
      const now = Date.now()
      // Insertion order is expiry order (one retention for all): stop at the first live body.
      for (const [key, entry] of bodies) {
        if (entry.expiresAt > now) break
        bodies.delete(key)
      }
      bodies.set(id, { body, expiresAt: now + retentionMs })
    },
    async get(id) {
      const entry = bodies.get(id)
      return entry && entry.expiresAt > Date.now() ? entry.body : undefined
    },
  }
}

/** Default retention of stored bodies: 7 days, the longest default retention of a tier (NATS `max_age`). */
export const PAYLOAD_RETENTION_DEFAULT_MS = 7 * 24 * 60 * 60 * 1000
