/**
 * AMQP (RabbitMQ) tier benchmark: tierbus publish/consume throughput vs raw amqplib doing the same work on
 * the same broker in the same run (ratio; aim >= 0.9), end-to-end latency p50/p99 at a paced 1,000
 * events/s (aim p99 < 10 ms), and the MisterSmith capacity plan's 3,375 events/s peak held for 30 s
 * (the backlog must not grow).
 * Run: npx tsx --conditions=tierbus-source bench/amqp.ts   (needs RabbitMQ on AMQP_URL)
 */
import { randomUUID } from 'node:crypto'
import { cpus, loadavg } from 'node:os'
import { type AmqpTransport, amqpTransport } from '@tierbus/amqp'
import { createBus } from '@tierbus/core'
import { type ChannelModel, type ConfirmChannel, connect } from 'amqplib'
import {
  bars,
  fmt,
  machineLine,
  paired,
  pairedLatency,
  printSummary,
  quantile,
  table,
  writeBenchSection,
} from './report.js'
import { IN_FLIGHT, LATENCY_RUNS, LATENCY_SECONDS, now, RATE, sample, Task } from './workload.js'

const AMQP_URL = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672'
const N = Number(process.env.BENCH_EVENTS ?? 20_000)
/**
 * Rounds per side for the publish and consume ratios. Nine, not five: the broker's own rate moves a lot from
 * round to round (raw against raw, 8 interleaved rounds: 0.90–1.48 per round), so the median of five
 * rounds could land ±10 % from the true ratio; a round takes about a second per side.
 */
const RUNS = Number(process.env.BENCH_RUNS ?? 9)
const BATCH = 1_000
/** The MisterSmith capacity plan's peak, events/s, and how long it is held. */
const PEAK_RATE = 3_375
const PEAK_SECONDS = Number(process.env.BENCH_PEAK_SECONDS ?? 30)
const token = () => `bench${randomUUID().slice(0, 8)}`

/** A fresh prefix per measurement, its exchanges and queues deleted afterwards. */
function isolated(): Promise<AmqpTransport> {
  return amqpTransport({ url: AMQP_URL, prefix: token(), deleteOnClose: true, connectionName: 'tierbus-bench' })
}

// ---- raw amqplib: the same envelope bytes, a topic exchange, a quorum queue, publisher confirms, prefetch + acks ----

interface RawSetup {
  readonly connection: ChannelModel
  readonly channel: ConfirmChannel
  readonly exchange: string
  readonly queue: string
  drop(): Promise<void>
}

async function rawSetup(): Promise<RawSetup> {
  const connection = await connect(AMQP_URL)
  const channel = await connection.createConfirmChannel()
  const prefix = token()
  const exchange = `${prefix}.events`
  const queue = `${prefix}.q`
  await channel.assertExchange(exchange, 'topic', { durable: true })
  await channel.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } })
  await channel.bindQueue(queue, exchange, 'work.nlp.*.#')
  return {
    connection,
    channel,
    exchange,
    queue,
    drop: async () => {
      await channel.deleteQueue(queue)
      await channel.deleteExchange(exchange)
      await connection.close()
    },
  }
}

function envelopeBytes(i: number, sentAt = 0): { id: string; body: Buffer } {
  const id = randomUUID()
  const data = { ...sample(i), sentAt }
  Task.schema.parse(data) // tierbus validates at publish: the raw path does the same work
  const body = Buffer.from(
    JSON.stringify({
      specversion: '1.0',
      id,
      source: 'bench',
      type: Task.type,
      time: new Date().toISOString(),
      datacontenttype: 'application/json',
      data,
    }),
  )
  return { id, body }
}

/** One confirmed publish (resolves on basic.ack), as tierbus sends each event. */
function rawPublishOne(s: RawSetup, i: number, sentAt = 0): Promise<void> {
  const { id, body } = envelopeBytes(i, sentAt)
  return new Promise((resolve, reject) =>
    s.channel.publish(
      s.exchange,
      Task.type,
      body,
      { persistent: true, messageId: id, contentType: 'application/cloudevents+json' },
      (err) => (err ? reject(err) : resolve()),
    ),
  )
}

async function rawPublish(s: RawSetup): Promise<number> {
  const t0 = performance.now()
  for (let i = 0; i < N; i += BATCH) {
    const confirms = []
    for (let k = i; k < Math.min(N, i + BATCH); k++) confirms.push(rawPublishOne(s, k))
    await Promise.all(confirms)
  }
  return N / ((performance.now() - t0) / 1000)
}

async function rawConsume(
  s: RawSetup,
  count: number,
  onMessage?: (data: { sentAt: number }) => void,
): Promise<{ done: Promise<number> }> {
  const ch = await s.connection.createChannel()
  await ch.prefetch(IN_FLIGHT)
  let handled = 0
  const t0 = performance.now()
  const done = new Promise<number>((resolve) => {
    void ch.consume(s.queue, (m) => {
      if (!m) return
      const env = JSON.parse(m.content.toString('utf8')) as { data: { sentAt: number } }
      Task.schema.parse(env.data)
      onMessage?.(env.data)
      ch.ack(m)
      if (++handled === count) resolve(count / ((performance.now() - t0) / 1000))
    })
  })
  return { done: done.finally(() => ch.close().catch(() => {})) }
}

async function rawPublishRun(): Promise<number> {
  const s = await rawSetup()
  const rate = await rawPublish(s)
  await s.drop()
  return rate
}

async function rawConsumeRun(): Promise<number> {
  const s = await rawSetup()
  await rawPublish(s)
  const rate = await (await rawConsume(s, N)).done
  await s.drop()
  return rate
}

// ---- tierbus ----

async function tierbusPublish(): Promise<number> {
  const bus = createBus({ transport: await isolated(), source: 'bench' })
  // Declare the group's queue first, as the raw side does: publishes are then stored, not dropped.
  await (await bus.subscribe(Task, () => {}, { group: 'bench' })).close()
  const t0 = performance.now()
  for (let i = 0; i < N; i += BATCH)
    await bus.publishBatch(
      Task,
      Array.from({ length: Math.min(BATCH, N - i) }, (_, k) => sample(i + k)),
    )
  const rate = N / ((performance.now() - t0) / 1000)
  await bus.close()
  return rate
}

async function tierbusConsume(): Promise<number> {
  const bus = createBus({ transport: await isolated(), source: 'bench' })
  await (await bus.subscribe(Task, () => {}, { group: 'bench' })).close()
  for (let i = 0; i < N; i += BATCH)
    await bus.publishBatch(
      Task,
      Array.from({ length: Math.min(BATCH, N - i) }, (_, k) => sample(i + k)),
    )
  let handled = 0
  let done!: () => void
  const finished = new Promise<void>((r) => (done = r))
  const t0 = performance.now()
  await bus.subscribe(
    Task,
    () => {
      if (++handled === N) done()
    },
    { group: 'bench', concurrency: IN_FLIGHT },
  )
  await finished
  const rate = N / ((performance.now() - t0) / 1000)
  await bus.close()
  return rate
}

/** Publishes at `rate` events/s for `seconds`, one publish per event; `tick` runs about every 1 ms. */
async function paced(
  rate: number,
  seconds: number,
  publishOne: (i: number) => Promise<unknown>,
  tick?: (sent: number) => void,
): Promise<void> {
  const total = rate * seconds
  const t0 = performance.now()
  let sent = 0
  const pending: Promise<unknown>[] = []
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * rate))
    while (sent < due) pending.push(publishOne(sent++))
    tick?.(sent)
    await new Promise((r) => setTimeout(r, 1))
  }
  await Promise.all(pending)
}

/** Publish failures of the latency run (deadline passed on an overloaded broker): counted, never thrown. */
const failures = { latency: 0 }

/** Resolves when `handled()` reaches `expected()` (which shrinks as publishes fail), or after `ms`. */
async function drained(handled: () => number, expected: () => number, ms = 30_000): Promise<void> {
  const deadline = performance.now() + ms
  while (handled() < expected() && performance.now() < deadline) await new Promise((r) => setTimeout(r, 10))
}

async function tierbusLatency(): Promise<number[]> {
  const bus = createBus({ transport: await isolated(), source: 'bench' })
  const latencies: number[] = []
  await bus.subscribe(Task, (e) => void latencies.push(now() - e.data.sentAt), {
    group: 'latency',
    concurrency: IN_FLIGHT,
  })
  await paced(RATE, LATENCY_SECONDS, (i) =>
    bus.publish(Task, { ...sample(i), sentAt: now() }).catch(() => void failures.latency++),
  )
  await drained(
    () => latencies.length,
    () => RATE * LATENCY_SECONDS - failures.latency,
  )
  await bus.close()
  return latencies
}

async function rawLatency(): Promise<number[]> {
  const s = await rawSetup()
  const latencies: number[] = []
  const c = await rawConsume(s, RATE * LATENCY_SECONDS, (d) => latencies.push(now() - d.sentAt))
  await paced(RATE, LATENCY_SECONDS, (i) => rawPublishOne(s, i, now()))
  await c.done
  await s.drop()
  return latencies
}

/** What one peak run saw: backlog (confirmed minus handled) once a second, totals, latency. */
interface PeakResult {
  readonly backlog: number[]
  readonly handled: number
  readonly total: number
  /** Publishes that rejected (tierbus: at their 5 s deadline). */
  readonly failed: number
  readonly p99: number
  /** How long publishing the whole peak took (PEAK_SECONDS when the publisher kept up). */
  readonly seconds: number
}

/** A side of the peak run: subscribed, reporting each handled event's `sentAt`; publishes one event. */
interface PeakSide {
  publish(i: number, sentAt: number): Promise<unknown>
  stop(): Promise<void>
}

/** Publishes PEAK_RATE events/s for PEAK_SECONDS, one confirmed publish per event, sampling the backlog. */
async function peak(start: (onHandled: (sentAt: number) => void) => Promise<PeakSide>): Promise<PeakResult> {
  const total = PEAK_RATE * PEAK_SECONDS
  let handled = 0
  let confirmed = 0
  let failed = 0
  const latencies: number[] = []
  const side = await start((sentAt) => {
    latencies.push(now() - sentAt)
    handled++
  })
  const backlog: number[] = []
  let nextSample = performance.now() + 1_000
  const t0 = performance.now()
  const publishOne = (i: number) =>
    side.publish(i, now()).then(
      () => void confirmed++,
      () => void failed++,
    )
  await paced(PEAK_RATE, PEAK_SECONDS, publishOne, () => {
    if (performance.now() < nextSample) return
    nextSample += 1_000
    backlog.push(confirmed - handled)
  })
  const seconds = (performance.now() - t0) / 1000
  await drained(
    () => handled,
    () => total - failed,
  )
  await side.stop()
  return { backlog, handled, total, failed, p99: quantile(latencies, 0.99), seconds }
}

function tierbusPeak(): Promise<PeakResult> {
  return peak(async (onHandled) => {
    const bus = createBus({ transport: await isolated(), source: 'bench' })
    await bus.subscribe(Task, (e) => onHandled(e.data.sentAt), { group: 'peak', concurrency: IN_FLIGHT })
    return { publish: (i, sentAt) => bus.publish(Task, { ...sample(i), sentAt }), stop: () => bus.close() }
  })
}

function rawPeak(): Promise<PeakResult> {
  return peak(async (onHandled) => {
    const s = await rawSetup()
    // Consumers on a connection of their own, as tierbus does (RabbitMQ's flow control throttles publishers).
    const consumer = await connect(AMQP_URL)
    const ch = await consumer.createChannel()
    await ch.prefetch(IN_FLIGHT)
    await ch.consume(s.queue, (m) => {
      if (!m) return
      const env = JSON.parse(m.content.toString('utf8')) as { data: { sentAt: number } }
      Task.schema.parse(env.data)
      onHandled(env.data.sentAt)
      ch.ack(m)
    })
    return {
      publish: (i, sentAt) => rawPublishOne(s, i, sentAt),
      stop: async () => {
        await consumer.close()
        await s.drop()
      },
    }
  })
}

const started = performance.now()
const loadAtStart = loadavg()[0] ?? 0
// Raw and tierbus alternate round by round, so drift on a shared machine hits both alike.
const pub = await paired(rawPublishRun, tierbusPublish, RUNS)
const con = await paired(rawConsumeRun, tierbusConsume, RUNS)
const [rawPub, tbPub, rawCon, tbCon] = [pub.raw, pub.tierbus, con.raw, con.tierbus]
const lats = await pairedLatency(rawLatency, tierbusLatency, LATENCY_RUNS)
const rawPk = await rawPeak()
const tbPk = await tierbusPeak()
const payloadBytes = envelopeBytes(0).body.length
const version = await (async () => {
  const c = await connect(AMQP_URL)
  const v = String(c.connection.serverProperties.version ?? '?')
  await c.close()
  return v
})()

const pubRatio = pub.ratio
const conRatio = con.ratio
const [rl, tl] = [lats.raw, lats.tierbus]
const p99s = (xs: readonly number[]) => xs.map((x) => fmt(x, 1)).join(', ')
printSummary({ tier: 'amqp', ratios: { publish: pubRatio, consume: conRatio }, p99: { tierbus: tl.p99, raw: rl.p99 } })
/** Held: every event handled, on time, and the backlog in the last third no larger than in the first. */
function peakHeld(p: PeakResult): { held: boolean; first: number; last: number } {
  const third = Math.max(1, Math.floor(p.backlog.length / 3))
  const first = Math.max(0, ...p.backlog.slice(0, third))
  const last = Math.max(0, ...p.backlog.slice(-third))
  const onTime = p.seconds <= PEAK_SECONDS * 1.1
  return { held: p.handled === p.total && onTime && last <= Math.max(first, PEAK_RATE / 10), first, last }
}
const rawHeld = peakHeld(rawPk)
const tbHeld = peakHeld(tbPk)
const verdict = (ok: boolean) => (ok ? 'met' : 'not met')
const peakRow = (name: string, p: PeakResult, h: ReturnType<typeof peakHeld>) => [
  name,
  fmt(p.seconds, 1),
  `${fmt(p.handled)} / ${fmt(p.total)}`,
  fmt(p.failed),
  `${fmt(h.first)} → ${fmt(h.last)}`,
  fmt(p.p99, 1),
  h.held ? 'yes' : 'no',
]

console.log(
  `amqp tier (RabbitMQ ${version}), ${fmt(N)} events of ~${payloadBytes} B, ${RUNS} alternating rounds, batches of ${BATCH}, ${IN_FLIGHT} in flight`,
)
console.log(
  `  publish  raw ${fmt(rawPub).padStart(8)} ev/s  tierbus ${fmt(tbPub).padStart(8)} ev/s  ratio ${fmt(pubRatio, 3)}`,
)
console.log(`  publish ratio per round: ${pub.ratios.map((r) => fmt(r, 2)).join(', ')}`)
console.log(
  `  consume  raw ${fmt(rawCon).padStart(8)} ev/s  tierbus ${fmt(tbCon).padStart(8)} ev/s  ratio ${fmt(conRatio, 3)}`,
)
console.log(
  `  e2e at ${fmt(RATE)} ev/s, ${LATENCY_RUNS} runs of ${LATENCY_SECONDS} s each (p99s raw ${p99s(lats.rawP99s)}; tierbus ${p99s(lats.tierbusP99s)}): raw p50 ${fmt(rl.p50, 2)} ms p99 ${fmt(rl.p99, 2)} ms; tierbus p50 ${fmt(tl.p50, 2)} ms p99 ${fmt(tl.p99, 2)} ms (max ${fmt(tl.max, 1)} ms)`,
)
for (const [name, p] of [
  ['raw', rawPk],
  ['tierbus', tbPk],
] as const) {
  console.log(
    `  peak ${name}: ${fmt(PEAK_RATE)} ev/s for ${PEAK_SECONDS} s published in ${fmt(p.seconds, 1)} s, ` +
      `handled ${fmt(p.handled)}/${fmt(p.total)}, rejected ${fmt(p.failed)}, backlog/s ${p.backlog.join(' ')}, ` +
      `p99 ${fmt(p.p99, 1)} ms`,
  )
}
console.log(
  `  aims: ratio >= 0.9 publish ${verdict(pubRatio >= 0.9)}, consume ${verdict(conRatio >= 0.9)}; p99 < 10 ms ${verdict(tl.p99 < 10)}; peak held ${verdict(tbHeld.held)} (raw ${verdict(rawHeld.held)}); took ${fmt((performance.now() - started) / 1000, 1)} s`,
)

writeBenchSection(
  'amqp',
  `## AMQP tier, RabbitMQ (bench/amqp.ts)

${machineLine()}, RabbitMQ ${version} on loopback (a quorum queue per group). ${fmt(N)} events of ~${payloadBytes} bytes
encoded; ${RUNS} rounds after a warm-up, raw and tierbus alternating
(events/s are medians, ratios the median of per-round ratios; the publish ratio per round in this run:
${pub.ratios.map((r) => fmt(r, 2)).join(', ')}). Both sides do the same work: zod-validate the data, JSON-encode a
CloudEvents envelope, publish persistent to a topic exchange on a confirm channel and wait for every broker confirm
(${fmt(BATCH)} in flight, awaited per batch); consume from the group's quorum queue with prefetch ${IN_FLIGHT}, decode +
validate + ack each message. The raw side is amqplib alone and sends one \`basic.ack\` per message, as a plain
amqplib consumer does; tierbus adds its consumer runtime (concurrency ${IN_FLIGHT}), leases and the in-flight
accounting, and sends the acks of one event-loop turn as one \`basic.ack\` with \`multiple\` (below every delivery
still open): one frame and socket write instead of up to ${IN_FLIGHT}, which is why its consume rate can exceed raw's. The machine was shared with other developers' test
runs and builds while this ran (1-minute load average ${fmt(loadAtStart, 1)} at the start, ${fmt(loadavg()[0] ?? 0, 1)} at the end, on
${cpus().length} cores shared by the broker, both clients and everything else): read the ratios within one
run, not the absolute rates, and expect a wide spread between runs.

${table(
  ['path', 'raw amqplib (events/s)', 'tierbus (events/s)', 'ratio'],
  [
    ['publish (confirmed, batches of 1,000)', fmt(rawPub), fmt(tbPub), fmt(pubRatio, 3)],
    ['consume (pre-filled queue)', fmt(rawCon), fmt(tbCon), fmt(conRatio, 3)],
  ],
)}

${bars(
  [
    ['raw publish', rawPub],
    ['tierbus publish', tbPub],
    ['raw consume', rawCon],
    ['tierbus consume', tbCon],
  ],
  'events/s',
)}

End-to-end latency (publish call → handler), one confirmed \`publish\` per event paced at ${fmt(RATE)} events/s for
${LATENCY_SECONDS} s, ${LATENCY_RUNS} runs per side with raw and tierbus alternating; p50 and p99 are the medians of the runs'
(p99 per run: raw ${p99s(lats.rawP99s)} ms, tierbus ${p99s(lats.tierbusP99s)} ms), max the largest:

${table(
  ['path', 'p50 ms', 'p99 ms', 'max ms'],
  [
    ['raw amqplib', fmt(rl.p50, 2), fmt(rl.p99, 2), fmt(rl.max, 1)],
    ['tierbus', fmt(tl.p50, 2), fmt(tl.p99, 2), fmt(tl.max, 1)],
  ],
)}

Peak: ${fmt(PEAK_RATE)} events/s (the MisterSmith capacity plan's peak) for ${PEAK_SECONDS} s, one confirmed publish per
event, one consumer (prefetch / concurrency ${IN_FLIGHT}) on a connection of its own, raw amqplib then tierbus.
Backlog = confirmed minus handled, sampled once a second (largest in the first third → in the last third); held means
published on time, every event handled, and no growing backlog. tierbus publishes reject at their 5 s deadline
(counted as rejected); raw publishes wait as long as the broker takes. The raw connection runs without heartbeats
(amqplib's default); tierbus's sends one every 10 s (\`heartbeatSeconds\`), so on a CPU-starved machine it can be
declared dead during a stall where the raw one rides it out: the tier then reconnects by itself, and what was
published meanwhile rejects at its deadline. Backlog per second: raw
\`${rawPk.backlog.join(' ')}\`, tierbus \`${tbPk.backlog.join(' ')}\`.

${table(
  ['path', 'published in s', 'handled', 'rejected', 'backlog', 'p99 ms', 'held'],
  [peakRow('raw amqplib', rawPk, rawHeld), peakRow('tierbus', tbPk, tbHeld)],
)}

Aims: ratio ≥ 0.9 publish **${verdict(pubRatio >= 0.9)}** (${fmt(pubRatio, 3)}), consume **${verdict(conRatio >= 0.9)}**
(${fmt(conRatio, 3)}); e2e p99 < 10 ms at ${fmt(RATE)}/s **${verdict(tl.p99 < 10)}** (${fmt(tl.p99, 2)} ms); ${fmt(PEAK_RATE)}/s
for ${PEAK_SECONDS} s held **${verdict(tbHeld.held)}** (raw amqplib on the same broker in the same run:
${verdict(rawHeld.held)}).`,
)
