/**
 * Redis Streams tier benchmark (issue 4): tierbus publish throughput vs raw ioredis XADD doing the same work
 * (sequential and pipelined) as ratios; end-to-end latency p50/p99 at a paced 1,000 events/s; sustained
 * consume throughput with 4 consumers in one group (vs 4 raw XREADGROUP/XACK loops).
 * Aims: ratio >= 0.9, p99 < 5 ms, >= 30,000 events/s pipelined.
 * Run: npx tsx --conditions=tierbus-source bench/redis.ts   (needs Redis 7+ on REDIS_URL)
 */
import { randomUUID } from 'node:crypto'
import { createBus, newEventId } from '@tierbus/core'
import { type RedisStreamsTransport, redisTransport } from '@tierbus/redis-streams'
import { Redis } from 'ioredis'
import { bars, fmt, machineLine, paired, pairedLatency, printSummary, table, writeBenchSection } from './report.js'
import { IN_FLIGHT, LATENCY_RUNS, LATENCY_SECONDS, now, RATE, sample, Task } from './workload.js'

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const N_SEQUENTIAL = Number(process.env.BENCH_SEQUENTIAL ?? 5_000)
const N_PIPELINED = Number(process.env.BENCH_EVENTS ?? 50_000)
const N_CONSUME = Number(process.env.BENCH_CONSUME ?? 40_000)
const RUNS = Number(process.env.BENCH_RUNS ?? 5)
const BATCH = 500
const CONSUMERS = 4
const token = () => `tbbench:${randomUUID().slice(0, 8)}`
const admin = new Redis(REDIS_URL, { connectionName: 'tierbus-bench-admin' })

async function dropPrefix(prefix: string): Promise<void> {
  let cursor = '0'
  do {
    const [next, keys] = await admin.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000)
    cursor = next
    if (keys.length) await admin.del(...keys)
  } while (cursor !== '0')
}

/** A transport on a fresh prefix; its keys are dropped by `done`. */
async function isolated(): Promise<{ transport: RedisStreamsTransport; done: () => Promise<void> }> {
  const prefix = token()
  const transport = await redisTransport({ url: REDIS_URL, prefix })
  return { transport, done: async () => dropPrefix(prefix) }
}

/** What tierbus does before XADD, done by hand: validate, build and encode a CloudEvents envelope. */
function rawPayload(i: number): string {
  const data = Task.schema.parse(sample(i))
  return JSON.stringify({
    specversion: '1.0',
    id: newEventId(),
    source: 'bench',
    type: Task.type,
    time: new Date().toISOString(),
    datacontenttype: 'application/json',
    data,
  })
}
const payloadBytes = Buffer.byteLength(rawPayload(0))

// ---- publish ----

async function rawPublish(mode: 'sequential' | 'pipelined'): Promise<number> {
  const prefix = token()
  const stream = `${prefix}:stream:${Task.type}`
  const redis = new Redis(REDIS_URL)
  const n = mode === 'sequential' ? N_SEQUENTIAL : N_PIPELINED
  const t0 = performance.now()
  if (mode === 'sequential') {
    for (let i = 0; i < n; i++) await redis.xadd(stream, 'MAXLEN', '~', 100_000, '*', 'payload', rawPayload(i))
  } else {
    for (let i = 0; i < n; i += BATCH) {
      const p = redis.pipeline()
      for (let k = i; k < Math.min(n, i + BATCH); k++)
        p.xadd(stream, 'MAXLEN', '~', 100_000, '*', 'payload', rawPayload(k))
      await p.exec()
    }
  }
  const rate = n / ((performance.now() - t0) / 1000)
  redis.disconnect()
  await dropPrefix(prefix)
  return rate
}

async function tierbusPublish(mode: 'sequential' | 'pipelined'): Promise<number> {
  const { transport, done } = await isolated()
  const bus = createBus({ transport, source: 'bench' })
  const n = mode === 'sequential' ? N_SEQUENTIAL : N_PIPELINED
  const t0 = performance.now()
  if (mode === 'sequential') {
    for (let i = 0; i < n; i++) await bus.publish(Task, sample(i))
  } else {
    for (let i = 0; i < n; i += BATCH)
      await bus.publishBatch(
        Task,
        Array.from({ length: Math.min(BATCH, n - i) }, (_, k) => sample(i + k)),
      )
  }
  const rate = n / ((performance.now() - t0) / 1000)
  await bus.close()
  await done()
  return rate
}

// ---- end-to-end latency at a paced rate ----

async function latency(): Promise<number[]> {
  const { transport, done } = await isolated()
  const bus = createBus({ transport, source: 'bench' })
  const samples: number[] = []
  await bus.subscribe(Task, (e) => void samples.push(now() - e.data.sentAt), {
    group: 'latency',
    concurrency: IN_FLIGHT,
  })
  const total = RATE * LATENCY_SECONDS
  const start = now()
  let sent = 0
  // Every 10 ms, publish the events due by now (10 at 1,000/s), each with its own publish() as an app would.
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const due = Math.min(total, Math.floor(((now() - start) / 1000) * RATE))
      while (sent < due) void bus.publish(Task, sample(sent++, now()))
      if (sent >= total) {
        clearInterval(timer)
        resolve()
      }
    }, 10)
  })
  const deadline = Date.now() + 10_000
  while (samples.length < total && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
  await bus.close()
  await done()
  return samples
}

async function rawLatency(): Promise<number[]> {
  const prefix = token()
  const stream = `${prefix}:stream:${Task.type}`
  await admin.xgroup('CREATE', stream, 'latency', '$', 'MKSTREAM')
  const publisher = new Redis(REDIS_URL)
  const reader = new Redis(REDIS_URL)
  const samples: number[] = []
  const total = RATE * LATENCY_SECONDS
  let stop = false
  const reading = (async () => {
    while (!stop) {
      const reply = (await reader.xreadgroup(
        'GROUP',
        'latency',
        'raw',
        'COUNT',
        IN_FLIGHT,
        'BLOCK',
        100,
        'STREAMS',
        stream,
        '>',
      )) as Array<[string, Array<[string, string[]]>]> | null
      if (!reply) continue
      const ids: string[] = []
      for (const [id, fields] of reply[0]![1]) {
        const data = Task.schema.parse((JSON.parse(fields[1]!) as { data: unknown }).data)
        samples.push(now() - data.sentAt)
        ids.push(id)
      }
      await reader.xack(stream, 'latency', ...ids)
    }
  })()
  const start = now()
  let sent = 0
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const due = Math.min(total, Math.floor(((now() - start) / 1000) * RATE))
      while (sent < due) {
        const data = Task.schema.parse(sample(sent++, now()))
        const payload = JSON.stringify({
          specversion: '1.0',
          id: newEventId(),
          source: 'bench',
          type: Task.type,
          time: new Date().toISOString(),
          datacontenttype: 'application/json',
          data,
        })
        void publisher.xadd(stream, 'MAXLEN', '~', 100_000, '*', 'payload', payload)
      }
      if (sent >= total) {
        clearInterval(timer)
        resolve()
      }
    }, 10)
  })
  const deadline = Date.now() + 10_000
  while (samples.length < total && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
  stop = true
  await reading
  publisher.disconnect()
  reader.disconnect()
  await dropPrefix(prefix)
  return samples
}

// ---- sustained consume with 4 consumers in one group ----

async function fill(transport: RedisStreamsTransport): Promise<void> {
  const bus = createBus({ transport, source: 'bench', closeTransport: false })
  for (let i = 0; i < N_CONSUME; i += BATCH)
    await bus.publishBatch(
      Task,
      Array.from({ length: Math.min(BATCH, N_CONSUME - i) }, (_, k) => sample(i + k)),
    )
  await bus.close()
}

async function tierbusConsume(): Promise<number> {
  const { transport, done } = await isolated()
  await fill(transport)
  let handled = 0
  let finish!: () => void
  const finished = new Promise<void>((r) => (finish = r))
  const buses = Array.from({ length: CONSUMERS }, () =>
    createBus({ transport, source: 'bench', closeTransport: false }),
  )
  const t0 = performance.now()
  for (const bus of buses) {
    await bus.subscribe(
      Task,
      () => {
        if (++handled === N_CONSUME) finish()
      },
      { group: 'workers', startFrom: 'earliest', concurrency: IN_FLIGHT },
    )
  }
  await finished
  const rate = N_CONSUME / ((performance.now() - t0) / 1000)
  for (const bus of buses) await bus.close()
  await transport.close()
  await done()
  return rate
}

async function rawConsume(): Promise<number> {
  const { transport, done } = await isolated()
  await fill(transport)
  const stream = transport.keys.stream(Task.type)
  await transport.close()
  await admin.xgroup('CREATE', stream, 'workers', '0')
  let handled = 0
  const t0 = performance.now()
  await Promise.all(
    Array.from({ length: CONSUMERS }, async (_, c) => {
      const redis = new Redis(REDIS_URL)
      while (handled < N_CONSUME) {
        const reply = (await redis.xreadgroup(
          'GROUP',
          'workers',
          `raw-${c}`,
          'COUNT',
          IN_FLIGHT,
          'BLOCK',
          100,
          'STREAMS',
          stream,
          '>',
        )) as Array<[string, Array<[string, string[]]>]> | null
        if (!reply) continue
        const ids: string[] = []
        for (const [id, fields] of reply[0]![1]) {
          Task.schema.parse((JSON.parse(fields[1]!) as { data: unknown }).data)
          ids.push(id)
        }
        handled += ids.length
        await redis.xack(stream, 'workers', ...ids)
      }
      redis.disconnect()
    }),
  )
  const rate = N_CONSUME / ((performance.now() - t0) / 1000)
  await done()
  return rate
}

// ---- run ----

const redisVersion = /redis_version:(\S+)/.exec(await admin.info('server'))?.[1] ?? '?'
console.log(
  `Redis ${redisVersion} at ${REDIS_URL}; ${payloadBytes}-byte envelopes; ${RUNS} alternating rounds after a warm-up`,
)
const seq = await paired(
  () => rawPublish('sequential'),
  () => tierbusPublish('sequential'),
  RUNS,
)
const [rawSeq, tbSeq] = [seq.raw, seq.tierbus]
console.log(`sequential publish: raw ${fmt(rawSeq)}/s, tierbus ${fmt(tbSeq)}/s, ratio ${seq.ratio.toFixed(2)}`)
const pipe = await paired(
  () => rawPublish('pipelined'),
  () => tierbusPublish('pipelined'),
  RUNS,
)
const [rawPipe, tbPipe] = [pipe.raw, pipe.tierbus]
console.log(
  `pipelined publish (${BATCH}/batch): raw ${fmt(rawPipe)}/s, tierbus ${fmt(tbPipe)}/s, ratio ${pipe.ratio.toFixed(2)}`,
)
const cons = await paired(rawConsume, tierbusConsume, RUNS)
const [rawCons, tbCons] = [cons.raw, cons.tierbus]
console.log(
  `consume, ${CONSUMERS} consumers: raw ${fmt(rawCons)}/s, tierbus ${fmt(tbCons)}/s, ratio ${cons.ratio.toFixed(2)}`,
)
const lats = await pairedLatency(rawLatency, latency, LATENCY_RUNS)
const [rawLat, lat] = [lats.raw, lats.tierbus]
const p99s = (xs: readonly number[]) => xs.map((x) => x.toFixed(2)).join(', ')
console.log(
  `raw end-to-end at ${fmt(RATE)}/s, ${LATENCY_RUNS} runs of ${LATENCY_SECONDS} s: p50 ${rawLat.p50.toFixed(2)} ms, p99 ${rawLat.p99.toFixed(2)} ms (runs: ${p99s(lats.rawP99s)}), max ${rawLat.max.toFixed(2)} ms (${fmt(rawLat.count)} events)`,
)
console.log(
  `end-to-end at ${fmt(RATE)}/s, ${LATENCY_RUNS} runs of ${LATENCY_SECONDS} s: p50 ${lat.p50.toFixed(2)} ms, p99 ${lat.p99.toFixed(2)} ms (runs: ${p99s(lats.tierbusP99s)}), max ${lat.max.toFixed(2)} ms (${fmt(lat.count)} events)`,
)
await admin.quit()
printSummary({
  tier: 'redis',
  ratios: { 'publish sequential': seq.ratio, 'publish pipelined': pipe.ratio, consume: cons.ratio },
  p99: { tierbus: lat.p99, raw: rawLat.p99 },
})

const verdict = (ok: boolean) => (ok ? '**met**' : '**not met**')
writeBenchSection(
  'redis',
  `## Redis Streams tier (bench/redis.ts)

${machineLine()}, Redis ${redisVersion} on loopback, ioredis 6. Envelopes of ${payloadBytes} bytes; ${RUNS} rounds after a warm-up,
raw and tierbus alternating (events/s are medians, ratios the median of per-round ratios). Both sides do the same work per event: zod-validate the data, build and JSON-encode a CloudEvents
envelope with a UUIDv7 id, \`XADD <stream> MAXLEN ~ 100000 * payload <json>\`. Sequential: ${fmt(N_SEQUENTIAL)} publishes, each
awaited. Pipelined: ${fmt(N_PIPELINED)} events in batches of ${BATCH} (raw: one ioredis pipeline per batch; tierbus:
\`publishBatch\`, one pipeline). Consume: ${fmt(N_CONSUME)} retained events drained by ${CONSUMERS} consumers of one group,
${IN_FLIGHT} in flight each (raw: \`XREADGROUP COUNT ${IN_FLIGHT} BLOCK\` + parse + validate + one \`XACK\` per read;
tierbus: 4 subscriptions with core's consumer runtime, coalesced XACKs). Latency: ${fmt(RATE)} events/s for ${LATENCY_SECONDS} s, one
\`publish()\` each, measured from before publish to the handler, one process; ${LATENCY_RUNS} runs per side, raw and tierbus
alternating, p50 and p99 the medians of the runs' (max the largest). The machine is a shared 2-core VM
(Redis, the client and tierbus share the CPUs): read ratios within one run.

${table(
  ['path', 'raw ioredis events/s', 'tierbus events/s', 'ratio'],
  [
    ['publish, sequential', fmt(rawSeq), fmt(tbSeq), seq.ratio.toFixed(2)],
    [`publish, pipelined (${BATCH}/batch)`, fmt(rawPipe), fmt(tbPipe), pipe.ratio.toFixed(2)],
    [`consume, ${CONSUMERS} consumers`, fmt(rawCons), fmt(tbCons), cons.ratio.toFixed(2)],
  ],
)}

${bars(
  [
    ['raw XADD sequential', rawSeq],
    ['tierbus publish sequential', tbSeq],
    ['raw XADD pipelined', rawPipe],
    ['tierbus publishBatch', tbPipe],
    ['raw consume x4', rawCons],
    ['tierbus consume x4', tbCons],
  ],
  'events/s',
)}

End-to-end at ${fmt(RATE)} events/s, ${fmt(lat.count)} events per side (p99 per run: raw ${p99s(lats.rawP99s)} ms, tierbus ${p99s(lats.tierbusP99s)} ms):

${table(
  ['path', 'p50 ms', 'p99 ms', 'max ms'],
  [
    [
      'raw ioredis (XADD; XREADGROUP BLOCK + XACK)',
      rawLat.p50.toFixed(2),
      rawLat.p99.toFixed(2),
      rawLat.max.toFixed(1),
    ],
    ['tierbus publish() → handler', lat.p50.toFixed(2), lat.p99.toFixed(2), lat.max.toFixed(1)],
  ],
)}

Aims: publish ratio ≥ 0.9 — sequential ${verdict(seq.ratio >= 0.9)} (${seq.ratio.toFixed(2)}), pipelined ${verdict(pipe.ratio >= 0.9)} (${pipe.ratio.toFixed(2)});
p99 < 5 ms ${verdict(lat.p99 < 5)}; ≥ 30,000 events/s pipelined ${verdict(tbPipe >= 30_000)} (${fmt(tbPipe)}/s).`,
)
console.log('wrote the redis section of docs/benchmarks.md')
