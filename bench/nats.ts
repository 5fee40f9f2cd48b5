/**
 * NATS tier benchmark (issue 8): tierbus publish/consume throughput vs the raw `nats` JetStream client
 * doing the same work on the same server in the same run (ratio; aim >= 0.9), and end-to-end latency
 * p50/p99 at a paced 1,000 events/s.
 * Run: npx tsx --conditions=tierbus-source bench/nats.ts   (needs nats-server -js on NATS_URL)
 */
import { randomUUID } from 'node:crypto'
import { createBus } from '@tierbus/core'
import { type NatsTransport, natsTransport } from '@tierbus/nats'
import { AckPolicy, connect, DeliverPolicy, type NatsConnection, nanos } from 'nats'
import { bars, fmt, machineLine, paired, pairedLatency, printSummary, table, writeBenchSection } from './report.js'
import { IN_FLIGHT, LATENCY_RUNS, LATENCY_SECONDS, now, RATE, sample, Task } from './workload.js'

const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222'
const N = Number(process.env.BENCH_EVENTS ?? 20_000)
const RUNS = Number(process.env.BENCH_RUNS ?? 7)
const BATCH = 1_000
const token = () => `bench${randomUUID().slice(0, 8)}`

/** A fresh prefix + stream per measurement, deleted afterwards, so runs never see each other's data. */
async function isolated(): Promise<NatsTransport> {
  const t = token()
  return natsTransport({
    url: NATS_URL,
    prefix: t,
    stream: t.toUpperCase(),
    deleteStreamsOnClose: true,
    maxAgeMs: 600_000,
  })
}

// ---- raw nats client: the same envelope bytes, js.publish with msgID, pull consumer with explicit acks ----

async function rawStream(nc: NatsConnection): Promise<{ prefix: string; stream: string; drop: () => Promise<void> }> {
  const prefix = token()
  const stream = prefix.toUpperCase()
  const jsm = await nc.jetstreamManager()
  await jsm.streams.add({ name: stream, subjects: [`${prefix}.>`], max_age: nanos(600_000) })
  return { prefix, stream, drop: async () => void (await jsm.streams.delete(stream)) }
}

function envelopeBytes(i: number, sentAt = 0): { id: string; body: string } {
  const id = randomUUID()
  const data = { ...sample(i), sentAt }
  Task.schema.parse(data) // tierbus validates at publish: the raw path does the same work
  return {
    id,
    body: JSON.stringify({
      specversion: '1.0',
      id,
      source: 'bench',
      type: Task.type,
      time: new Date().toISOString(),
      datacontenttype: 'application/json',
      data,
    }),
  }
}

async function rawPublish(nc: NatsConnection, subject: string): Promise<number> {
  const js = nc.jetstream()
  const t0 = performance.now()
  for (let i = 0; i < N; i += BATCH) {
    const acks = []
    for (let k = i; k < Math.min(N, i + BATCH); k++) {
      const { id, body } = envelopeBytes(k)
      acks.push(js.publish(subject, body, { msgID: id }))
    }
    await Promise.all(acks)
  }
  return N / ((performance.now() - t0) / 1000)
}

async function rawConsume(
  nc: NatsConnection,
  stream: string,
  subject: string,
  onMessage?: (data: { sentAt: number }) => void,
  count = N,
): Promise<{ rate: number; stop: () => Promise<void>; done: Promise<void> }> {
  const jsm = await nc.jetstreamManager()
  await jsm.consumers.add(stream, {
    durable_name: 'raw',
    filter_subject: subject,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: nanos(30_000),
    max_deliver: -1,
  })
  const consumer = await nc.jetstream().consumers.get(stream, 'raw')
  let handled = 0
  let done!: () => void
  const finished = new Promise<void>((r) => (done = r))
  const t0 = performance.now()
  const messages = await consumer.consume({ max_messages: IN_FLIGHT })
  void (async () => {
    for await (const m of messages) {
      const env = JSON.parse(new TextDecoder().decode(m.data)) as { data: { sentAt: number } }
      Task.schema.parse(env.data)
      onMessage?.(env.data)
      m.ack()
      if (++handled === count) done()
    }
  })()
  const result = { rate: 0, stop: async () => void (await messages.close()), done: finished }
  void finished.then(() => (result.rate = count / ((performance.now() - t0) / 1000)))
  return result
}

// ---- tierbus ----

async function tierbusPublish(): Promise<number> {
  const transport = await isolated()
  const bus = createBus({ transport, source: 'bench' })
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
  const transport = await isolated()
  const bus = createBus({ transport, source: 'bench' })
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
    { group: 'bench', startFrom: 'earliest', concurrency: IN_FLIGHT },
  )
  await finished
  const rate = N / ((performance.now() - t0) / 1000)
  await bus.close()
  return rate
}

/**
 * `tuned`: the raw client with `noAsyncTraces: true`, as tierbus connects (nats.js otherwise builds an Error per
 * request, JetStream publishes included). The aim compares with the client's defaults; this shows the rest.
 */
async function rawPublishRun(tuned = false): Promise<number> {
  const nc = await connect({ servers: NATS_URL, noAsyncTraces: tuned })
  const s = await rawStream(nc)
  const rate = await rawPublish(nc, `${s.prefix}.${Task.type}`)
  await s.drop()
  await nc.close()
  return rate
}

async function rawConsumeRun(): Promise<number> {
  const nc = await connect({ servers: NATS_URL })
  const s = await rawStream(nc)
  await rawPublish(nc, `${s.prefix}.${Task.type}`)
  const c = await rawConsume(nc, s.stream, `${s.prefix}.${Task.type}`)
  await c.done
  await c.stop()
  await s.drop()
  await nc.close()
  return c.rate
}

/** Publishes at RATE events/s for LATENCY_SECONDS, one publish per event; returns publish→handler latencies, ms. */
async function paced(publishOne: (i: number) => Promise<unknown>): Promise<void> {
  const total = RATE * LATENCY_SECONDS
  const t0 = performance.now()
  let sent = 0
  const pending: Promise<unknown>[] = []
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * RATE))
    while (sent < due) pending.push(publishOne(sent++))
    await new Promise((r) => setTimeout(r, 1))
  }
  await Promise.all(pending)
}

async function tierbusLatency(): Promise<number[]> {
  const transport = await isolated()
  const bus = createBus({ transport, source: 'bench' })
  const latencies: number[] = []
  const total = RATE * LATENCY_SECONDS
  let done!: () => void
  const finished = new Promise<void>((r) => (done = r))
  await bus.subscribe(
    Task,
    (e) => {
      latencies.push(now() - e.data.sentAt)
      if (latencies.length === total) done()
    },
    { group: 'latency', concurrency: IN_FLIGHT },
  )
  await paced((i) => bus.publish(Task, { ...sample(i), sentAt: now() }))
  await finished
  await bus.close()
  return latencies
}

async function rawLatency(): Promise<number[]> {
  const nc = await connect({ servers: NATS_URL })
  const s = await rawStream(nc)
  const subject = `${s.prefix}.${Task.type}`
  const latencies: number[] = []
  const c = await rawConsume(nc, s.stream, subject, (d) => latencies.push(now() - d.sentAt), RATE * LATENCY_SECONDS)
  const js = nc.jetstream()
  await paced((i) => {
    const { id, body } = envelopeBytes(i, now())
    return js.publish(subject, body, { msgID: id })
  })
  await c.done
  await c.stop()
  await s.drop()
  await nc.close()
  return latencies
}

const started = performance.now()
// Raw and tierbus alternate round by round, so drift on a shared machine hits both alike.
const pub = await paired(() => rawPublishRun(), tierbusPublish, RUNS)
const pubTuned = await paired(() => rawPublishRun(true), tierbusPublish, RUNS)
const con = await paired(rawConsumeRun, tierbusConsume, RUNS)
const [rawPub, tbPub, rawCon, tbCon] = [pub.raw, pub.tierbus, con.raw, con.tierbus]
const lats = await pairedLatency(rawLatency, tierbusLatency, LATENCY_RUNS)
const payloadBytes = Buffer.byteLength(envelopeBytes(0).body)

const pubRatio = pub.ratio
const conRatio = con.ratio
const [rl, tl] = [lats.raw, lats.tierbus]
const p99s = (xs: readonly number[]) => xs.map((x) => fmt(x, 2)).join(', ')
printSummary({
  tier: 'nats',
  ratios: { publish: pubRatio, consume: conRatio },
  reference: { 'publish (raw with noAsyncTraces)': pubTuned.ratio },
  p99: { tierbus: tl.p99, raw: rl.p99 },
})

console.log(
  `nats tier, ${fmt(N)} events of ~${payloadBytes} B, ${RUNS} alternating rounds, batches of ${BATCH}, ${IN_FLIGHT} in flight`,
)
console.log(
  `  publish  raw ${fmt(rawPub).padStart(8)} ev/s  tierbus ${fmt(tbPub).padStart(8)} ev/s  ratio ${fmt(pubRatio, 3)}`,
)
console.log(
  `  publish  raw with noAsyncTraces ${fmt(pubTuned.raw).padStart(8)} ev/s  tierbus ${fmt(pubTuned.tierbus).padStart(8)} ev/s  ratio ${fmt(pubTuned.ratio, 3)}`,
)
console.log(
  `  consume  raw ${fmt(rawCon).padStart(8)} ev/s  tierbus ${fmt(tbCon).padStart(8)} ev/s  ratio ${fmt(conRatio, 3)}`,
)
console.log(
  `  e2e at ${fmt(RATE)} ev/s, ${LATENCY_RUNS} runs of ${LATENCY_SECONDS} s each (p99s raw ${p99s(lats.rawP99s)}; tierbus ${p99s(lats.tierbusP99s)}): raw p50 ${fmt(rl.p50, 2)} ms p99 ${fmt(rl.p99, 2)} ms; tierbus p50 ${fmt(tl.p50, 2)} ms p99 ${fmt(tl.p99, 2)} ms (max ${fmt(tl.max, 1)} ms)`,
)
console.log(
  `  aim ratio >= 0.9: publish ${pubRatio >= 0.9 ? 'met' : 'NOT met'}, consume ${conRatio >= 0.9 ? 'met' : 'NOT met'}; took ${fmt((performance.now() - started) / 1000, 1)} s`,
)

writeBenchSection(
  'nats',
  `## NATS JetStream tier (bench/nats.ts)

${machineLine()}, nats-server ${await (
    async () => {
      const nc = await connect({ servers: NATS_URL })
      const v = nc.info?.version ?? '?'
      await nc.close()
      return v
    }
  )()} on loopback (file storage). ${fmt(N)} events of ~${payloadBytes} bytes encoded; ${RUNS} rounds after a warm-up, raw and tierbus alternating
(events/s are medians, ratios the median of per-round ratios).
Both sides do the same work: zod-validate the data, JSON-encode a CloudEvents envelope, \`js.publish\` with a
\`Nats-Msg-Id\` (${fmt(BATCH)} publishes in flight, awaited per batch); consume with a durable pull consumer,
${IN_FLIGHT} messages in flight, decode + validate + explicit ack. The raw side uses \`consumer.consume()\`;
tierbus uses its pipelined pull requests and core's consumer runtime (concurrency ${IN_FLIGHT}). "Raw nats" is the
client with its defaults, as the aim compares; tierbus connects with \`noAsyncTraces: true\` (nats.js otherwise builds an
\`Error\` on every request, JetStream publishes included, ~40 % of a publish's client CPU here), so the publish is also
measured against a raw client with that option, in rounds of its own. On a shared
2-core machine the spread between runs is wide (publish ratio seen from 0.67 to 1.27 across runs, p99 from 8 to
77 ms): the server, the raw client and tierbus share the CPUs, so read ratios within one run, not across runs.

${table(
  ['path', 'raw nats (events/s)', 'tierbus (events/s)', 'ratio'],
  [
    ['publish (batches of 1,000)', fmt(rawPub), fmt(tbPub), fmt(pubRatio, 3)],
    ['publish, raw with `noAsyncTraces`', fmt(pubTuned.raw), fmt(pubTuned.tierbus), fmt(pubTuned.ratio, 3)],
    ['consume (pre-filled stream)', fmt(rawCon), fmt(tbCon), fmt(conRatio, 3)],
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

End-to-end latency (publish call → handler), one \`publish\` per event paced at ${fmt(RATE)} events/s for ${LATENCY_SECONDS} s,
${LATENCY_RUNS} runs per side with raw and tierbus alternating; p50 and p99 are the medians of the runs' (p99 per run: raw
${p99s(lats.rawP99s)} ms, tierbus ${p99s(lats.tierbusP99s)} ms), max the largest:

${table(
  ['path', 'p50 ms', 'p99 ms', 'max ms'],
  [
    ['raw nats', fmt(rl.p50, 2), fmt(rl.p99, 2), fmt(rl.max, 1)],
    ['tierbus', fmt(tl.p50, 2), fmt(tl.p99, 2), fmt(tl.max, 1)],
  ],
)}

Aim ratio ≥ 0.9: publish **${pubRatio >= 0.9 ? 'met' : 'not met'}** (${fmt(pubRatio, 3)}), consume **${conRatio >= 0.9 ? 'met' : 'not met'}** (${fmt(conRatio, 3)}).`,
)
