import { type DeadLetter, type DeadLetterReason, type DeadLetterStore, tryDecodeEnvelope } from '@tierbus/core'
import type { RedisStreamClient } from './client.js'
import { evalScript, REDRIVE_SCRIPT } from './commands.js'
import type { RedisKeys } from './keys.js'

/** Id of a dead letter as the store hands it out: `<group>/<entry id>` (groups cannot contain `/`). */
function deadLetterId(group: string, entryId: string): string {
  return `${group}/${entryId}`
}

function parseDeadLetterId(id: string): { group: string; entryId: string } | undefined {
  const at = id.lastIndexOf('/')
  if (at <= 0 || !/^\d+-\d+$/.test(id.slice(at + 1))) return undefined
  return { group: id.slice(0, at), entryId: id.slice(at + 1) }
}

function fieldsToRecord(fields: unknown): Record<string, string> {
  const record: Record<string, string> = {}
  if (Array.isArray(fields))
    for (let i = 0; i + 1 < fields.length; i += 2) record[String(fields[i])] = String(fields[i + 1])
  return record
}

/** The stored reason; for an entry written by something else, why its payload is unreadable (or the raw text). */
function parseReason(text: string | undefined, malformed: { readonly error: string } | undefined): DeadLetterReason {
  try {
    const value = JSON.parse(text ?? '') as Partial<DeadLetterReason>
    if (value && typeof value.kind === 'string')
      return { kind: value.kind, error: String(value.error ?? ''), attempts: Number(value.attempts ?? 0) }
  } catch {
    // fall through: a reason written by something else
  }
  if (malformed) return { kind: 'malformed', error: malformed.error, attempts: 0 }
  return { kind: 'handler-failed', error: text ?? 'unknown', attempts: 0 }
}

/** Entry ids (`<ms>-<seq>`) compared in stream order. */
function compareEntryIds(a: string, b: string): number {
  const [am = 0, as = 0] = a.split('-').map(Number)
  const [bm = 0, bs = 0] = b.split('-').map(Number)
  return am - bm || as - bs
}

/**
 * Dead letters live in one stream per subscriber group (`<prefix>:dlq:<group>`), each entry holding the
 * payload, the reason, and the consumer group and stream it failed in. Redrive moves an entry to that
 * consumer group's private redrive stream, so only the group that failed sees it again, attempts reset.
 */
export class RedisDeadLetterStore implements DeadLetterStore {
  constructor(
    private readonly client: RedisStreamClient,
    private readonly keys: RedisKeys,
  ) {}

  async list(options: { group?: string; limit?: number } = {}): Promise<DeadLetter[]> {
    const limit = options.limit ?? 100
    const groups =
      options.group !== undefined
        ? [options.group]
        : ((await this.client.send(['SMEMBERS', this.keys.deadLetterGroups])) as string[])
    if (groups.length === 0) return []
    const replies = await this.client.pipeline(
      groups.map((g) => ['XRANGE', this.keys.deadLetters(g), '-', '+', 'COUNT', limit] as const),
    )
    const found: Array<{ entryId: string; letter: DeadLetter }> = []
    // One reply per group, in order (a pipeline).
    groups.forEach((group, i) => {
      const reply = replies[i]
      if (reply instanceof Error) throw reply
      for (const item of (reply as unknown[]) ?? []) {
        const [entryId, rawFields] = item as [string, unknown]
        const fields = fieldsToRecord(rawFields)
        const payload = fields.payload ?? ''
        // Decoded without throwing (depth-capped too): one unreadable entry is listed raw, never fails the listing.
        const { envelope, malformed } = tryDecodeEnvelope(payload)
        const letter: DeadLetter = {
          id: deadLetterId(group, entryId),
          group,
          ...(envelope
            ? { envelope }
            : fields.encoding === 'base64'
              ? { raw: payload, rawEncoding: 'base64' as const }
              : { raw: payload }),
          reason: parseReason(fields.reason, malformed),
          failedAt: fields.failedAt ?? new Date(Number(entryId.split('-')[0])).toISOString(),
        }
        found.push({ entryId, letter })
      }
    })
    return found
      .sort((a, b) => compareEntryIds(a.entryId, b.entryId))
      .slice(0, limit)
      .map((f) => f.letter)
  }

  async redrive(ids: readonly string[]): Promise<number> {
    let moved = 0
    for (const id of ids) {
      const parsed = parseDeadLetterId(id)
      if (!parsed) continue
      const dlq = this.keys.deadLetters(parsed.group)
      const entries = (await this.client.send(['XRANGE', dlq, parsed.entryId, parsed.entryId])) as unknown[]
      const first = entries?.[0] as [string, unknown] | undefined
      if (!first) continue
      const consumerGroup = fieldsToRecord(first[1]).consumerGroup
      if (!consumerGroup) continue
      moved += Number(
        await this.client.send(
          evalScript(REDRIVE_SCRIPT, [dlq, this.keys.redrive(consumerGroup)], [parsed.entryId, consumerGroup]),
        ),
      )
    }
    return moved
  }

  async purge(ids: readonly string[]): Promise<number> {
    let removed = 0
    for (const id of ids) {
      const parsed = parseDeadLetterId(id)
      if (!parsed) continue
      removed += Number(await this.client.send(['XDEL', this.keys.deadLetters(parsed.group), parsed.entryId]))
    }
    return removed
  }
}
