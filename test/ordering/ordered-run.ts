/**
 * The per-key order run shared by the tiers that keep order across group members (redis, nats): 16 keys
 * × 1,000 events, ~1 % of first attempts failing (retried in place), two members of one group, one of
 * them a child process SIGKILLed midway. Each member logs when a handler starts and ends (the child on
 * its stdout, a pipe, which Node writes synchronously on Linux, so a line written before the kill is not
 * lost); `analyzeRun` checks the log: none lost, none out of order, no two handlers of a key at once.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { type Bus, defineEvent } from '@tierbus/core'
import { eventually } from '@tierbus/core/testing'
import { z } from 'zod'

export const KEYS = 16
export const PER_KEY = 1_000
/** Event types the keys are spread over (4 keys each), so a tier that partitions by type has several partitions. */
export const TYPES = 4

/** The events of the run: `ordered.p<i>`, data `{ key, n }`. */
export const orderedEvents = Array.from({ length: TYPES }, (_, i) =>
  defineEvent(`ordered.p${i}`, z.object({ key: z.string(), n: z.number().int() })),
)

/** The key of index `k` and the event type it is published as. */
export function keyOf(k: number): { key: string; event: (typeof orderedEvents)[number] } {
  return { key: `key-${k}`, event: orderedEvents[k % TYPES]! }
}

/** ~1 % of first attempts fail (deterministic, so a redelivered event fails the same way). */
export function failsFirst(key: string, n: number): boolean {
  return (Number(key.slice(4)) * 7_919 + n * 104_729) % 97 === 0
}

/** One log record: a handler started (`S`) or ended (`E`). */
export interface RunRecord {
  readonly phase: 'S' | 'E'
  readonly member: string
  readonly key: string
  readonly n: number
  readonly attempt: number
  /** Wall-clock ms with sub-ms precision (the same clock in every process of the machine). */
  readonly at: number
  readonly ok: boolean
}

/** Parses one `S|E member key n attempt at ok` line. */
export function parseRecord(line: string): RunRecord | undefined {
  const [phase, member, key, n, attempt, at, ok] = line.trim().split(' ')
  if ((phase !== 'S' && phase !== 'E') || !member || !key) return undefined
  return { phase, member, key, n: Number(n), attempt: Number(attempt), at: Number(at), ok: ok === '1' }
}

/** Formats a record as a log line. */
export function formatRecord(r: RunRecord): string {
  return `${r.phase} ${r.member} ${r.key} ${r.n} ${r.attempt} ${r.at.toFixed(3)} ${r.ok ? 1 : 0}\n`
}

function now(): number {
  return performance.timeOrigin + performance.now()
}

/** Subscribes `bus` as a member of the ordered group (for `events`, default all), sending its records to `log`. */
export async function subscribeMember(
  bus: Bus,
  member: string,
  log: (r: RunRecord) => void,
  options: { leaseMs: number; events?: typeof orderedEvents; workMs?: number },
): Promise<void> {
  for (const event of options.events ?? orderedEvents) {
    await bus.subscribe(
      event,
      async (e) => {
        const { key, n } = e.data
        log({ phase: 'S', member, key, n, attempt: e.attempt, at: now(), ok: true })
        if (e.attempt === 1 && failsFirst(key, n)) {
          log({ phase: 'E', member, key, n, attempt: e.attempt, at: now(), ok: false })
          throw new Error(`first attempt of ${key}/${n} fails`)
        }
        // A little work, so handlers of different keys overlap and a same-key overlap would show.
        await new Promise((resolve) => (options.workMs ? setTimeout(resolve, options.workMs) : setImmediate(resolve)))
        log({ phase: 'E', member, key, n, attempt: e.attempt, at: now(), ok: true })
      },
      {
        group: 'ordered-run',
        ordered: true,
        concurrency: 16,
        leaseMs: options.leaseMs,
        retry: { attempts: 5, backoff: { baseMs: 5, maxMs: 20 } },
      },
    )
  }
}

/** Publishes events `from` to `to` (exclusive) of every key, keys interleaved, in publish order per key. */
export async function publishRun(bus: Bus, from = 0, to = PER_KEY, batch = 200): Promise<void> {
  const all = Array.from({ length: KEYS * (to - from) }, (_, i) => ({ k: i % KEYS, n: from + Math.floor(i / KEYS) }))
  for (let i = 0; i < all.length; i += batch) {
    await Promise.all(
      all.slice(i, i + batch).map(({ k, n }) => {
        const { key, event } = keyOf(k)
        return bus.publish(event, { key, n }, { key })
      }),
    )
  }
}

/** A member in a child process: its records arrive on its stdout. */
export interface ChildMember {
  readonly process: ChildProcess
  readonly ready: Promise<void>
  stderr(): string
}

/** Starts `fixture` (a module calling `runChildMember`) with `env`, feeding its records to `log`. */
export function spawnChildMember(
  fixture: string,
  env: Record<string, string>,
  log: (r: RunRecord) => void,
): ChildMember {
  const child = spawn(process.execPath, ['--import', 'tsx', '--conditions=tierbus-source', fixture], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stderr = ''
  let rest = ''
  let markReady: () => void = () => {}
  const ready = new Promise<void>((resolve, reject) => {
    markReady = resolve
    child.once('exit', (code) => reject(new Error(`child member exited (${code}) before it was ready: ${stderr}`)))
  })
  ready.catch(() => {})
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString()
  })
  child.stdout?.on('data', (chunk: Buffer) => {
    const lines = (rest + chunk.toString()).split('\n')
    rest = lines.pop() ?? ''
    for (const line of lines) {
      if (line === 'ready') markReady()
      const r = parseRecord(line)
      if (r) log(r)
    }
  })
  return { process: child, ready, stderr: () => stderr }
}

/**
 * For a child fixture: subscribes as a member, logging to stdout, then prints `ready`. Its handlers take
 * 2 ms, so it still holds unsettled events when the parent kills it.
 */
export async function runChildMember(bus: Bus, member: string, leaseMs: number): Promise<void> {
  await subscribeMember(bus, member, (r) => process.stdout.write(formatRecord(r)), { leaseMs, workMs: 2 })
  process.stdout.write('ready\n')
}

/** What `analyzeRun` found. */
export interface RunReport {
  /** Events never handled successfully. */
  readonly lost: number
  /** Events whose first successful handling came after a later event of its key had been handled successfully. */
  readonly outOfOrder: number
  /** Handler runs that started while another run of the same key was still going (on any member). */
  readonly overlaps: number
  /** Successful handlings of an event already handled (at-least-once redeliveries after the kill). */
  readonly duplicates: number
  /** Successful handlings per member. */
  readonly byMember: Record<string, number>
  /** First attempts that failed on purpose. */
  readonly injectedFailures: number
}

/**
 * Checks a run's log. A run of the killed member that started and never ended is taken to last until
 * the kill (`killedAt`): the process, and its handler, stopped then.
 */
export function analyzeRun(
  records: readonly RunRecord[],
  killed: { member: string; at: number } | undefined,
): RunReport {
  const runs = new Map<string, Array<{ start: number; end: number; n: number; ok: boolean; member: string }>>()
  const open = new Map<string, RunRecord>()
  let injectedFailures = 0
  for (const r of records) {
    const id = `${r.member} ${r.key} ${r.n} ${r.attempt}`
    if (r.phase === 'S') {
      open.set(id, r)
      continue
    }
    const s = open.get(id)
    if (!s) continue
    open.delete(id)
    if (!r.ok) injectedFailures++
    const list = runs.get(r.key) ?? []
    list.push({ start: s.at, end: r.at, n: r.n, ok: r.ok, member: r.member })
    runs.set(r.key, list)
  }
  for (const s of open.values()) {
    const end = killed && s.member === killed.member ? killed.at : Number.POSITIVE_INFINITY
    const list = runs.get(s.key) ?? []
    list.push({ start: s.at, end, n: s.n, ok: false, member: s.member })
    runs.set(s.key, list)
  }
  let lost = 0
  let outOfOrder = 0
  let overlaps = 0
  let duplicates = 0
  const byMember: Record<string, number> = {}
  for (let k = 0; k < KEYS; k++) {
    const { key } = keyOf(k)
    const list = (runs.get(key) ?? []).sort((a, b) => a.start - b.start)
    let lastEnd = Number.NEGATIVE_INFINITY
    for (const run of list) {
      if (run.start < lastEnd) overlaps++
      lastEnd = Math.max(lastEnd, run.end)
    }
    const done = new Set<number>()
    let highest = -1
    for (const run of list) {
      if (!run.ok) continue
      byMember[run.member] = (byMember[run.member] ?? 0) + 1
      if (done.has(run.n)) {
        duplicates++
        continue
      }
      if (run.n < highest) outOfOrder++
      done.add(run.n)
      highest = Math.max(highest, run.n)
    }
    lost += PER_KEY - done.size
  }
  return { lost, outOfOrder, overlaps, duplicates, byMember, injectedFailures }
}

/** The events handled successfully so far, as `key n`. */
function handledEvents(records: readonly RunRecord[]): Set<string> {
  return new Set(records.filter((r) => r.phase === 'E' && r.ok).map((r) => `${r.key} ${r.n}`))
}

/**
 * What a stalled run is missing, per key: the first unhandled n, how many, and who last started that n (and
 * on which attempt), so a failure says whether a lane is stuck behind one event or a whole partition waits.
 */
function unhandled(records: readonly RunRecord[]): string {
  const done = handledEvents(records)
  const parts: string[] = []
  for (let k = 0; k < KEYS; k++) {
    const { key } = keyOf(k)
    const missing: number[] = []
    for (let n = 0; n < PER_KEY; n++) if (!done.has(`${key} ${n}`)) missing.push(n)
    const first = missing[0]
    if (first === undefined) continue
    const starts = records.filter((r) => r.phase === 'S' && r.key === key && r.n === first)
    const last = starts.at(-1)
    const who = last ? `last started by ${last.member}, attempt ${last.attempt}` : 'never started'
    parts.push(`${key}: ${missing.length} from n=${first} (${who})`)
  }
  return parts.join('; ') || 'none missing'
}

/**
 * The kill scenario both tiers' ordering tests run: the parent subscribes to two partitions, the child (already
 * spawned, logging into `records`) to the other two, then the parent stands by for those; half the events are
 * published, the child is SIGKILLed while it works through its share, the other half is published, and the run
 * is analyzed once every event was handled. The caller asserts on the report.
 */
export async function killMidwayRun(
  tier: string,
  bus: Bus,
  child: ChildMember,
  records: RunRecord[],
  leaseMs: number,
): Promise<RunReport> {
  const log = (r: RunRecord) => void records.push(r)
  await subscribeMember(bus, 'parent', log, { leaseMs, events: orderedEvents.slice(0, 2) })
  await child.ready
  await subscribeMember(bus, 'parent', log, { leaseMs, events: orderedEvents.slice(2) })
  const startedAt = Date.now()
  await publishRun(bus, 0, PER_KEY / 2)
  const childDone = () => records.filter((r) => r.member === 'child' && r.phase === 'E' && r.ok).length
  await eventually(
    () => childDone() >= (KEYS * PER_KEY) / 16,
    () => `the child to handle a share of the events (${childDone()})`,
    { timeoutMs: 60_000 },
  )
  const killedAt = performance.timeOrigin + performance.now()
  child.process.kill('SIGKILL')
  await new Promise((resolve) => child.process.once('exit', resolve))
  await publishRun(bus, PER_KEY / 2, PER_KEY)
  const handled = () => handledEvents(records).size
  await eventually(
    () => handled() === KEYS * PER_KEY,
    () => `every event handled, ${handled()} so far; ${unhandled(records)}`,
    { timeoutMs: 120_000 },
  )
  const seconds = (Date.now() - startedAt) / 1_000
  const report = analyzeRun(records, { member: 'child', at: killedAt })
  const rate = Math.round((KEYS * PER_KEY) / seconds)
  console.log(
    `${tier} ordered run: ${KEYS * PER_KEY} events in ${seconds.toFixed(1)} s (${rate}/s incl. one lease of failover), ${JSON.stringify(report)}`,
  )
  return report
}
