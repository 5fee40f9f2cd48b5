/**
 * Memory tier benchmark (aims: >= 500,000 events/s publish->handler one at a time, >= 1,000,000 batched;
 * 1 KB events, validation on). Baseline: Node's EventEmitter delivering the same objects to a handler, in
 * the same process and run. Each path reports wall-clock events/s and the process CPU time per event
 * (process.cpuUsage): on a shared, loaded machine the wall rate mostly measures the other tenants, the
 * CPU time what tierbus costs. Paths run interleaved (raw, zod, publish, batch, raw, ...), so a change in
 * load hits all of them alike.
 * Run: npm run bench:memory
 */
import { EventEmitter } from 'node:events'
import { cpus, loadavg } from 'node:os'
import { createBus, memoryTransport } from '@tierbus/core'
import { bars, fmt, machineLine, median, printSummary, table, writeBenchSection } from './report.js'
import { Feedback, feedback as sample } from './workload.js'

const N = Number(process.env.BENCH_EVENTS ?? 100_000)
const RUNS = Number(process.env.BENCH_RUNS ?? 5)

const payloadBytes = Buffer.byteLength(JSON.stringify(sample(0)))
// 1,000 distinct payloads reused in turn: as in an app, payloads die young instead of 100 MB staying
// live for the whole run (which would make every major GC, of raw and tierbus alike, scan them).
const distinct = Array.from({ length: 1000 }, (_, i) => sample(i))
const events = Array.from({ length: N }, (_, i) => distinct[i % distinct.length]!)

/** One measured run: wall-clock events/s and CPU microseconds per event. */
interface Sample {
  rate: number
  cpuUs: number
}

function cpuNow(): number {
  const { user, system } = process.cpuUsage()
  return user + system
}

/** Times `work` (which handles N events) on the wall clock and in process CPU time. */
async function timed(work: () => Promise<void>): Promise<Sample> {
  const c0 = cpuNow()
  const t0 = performance.now()
  await work()
  const wallMs = performance.now() - t0
  return { rate: N / (wallMs / 1000), cpuUs: (cpuNow() - c0) / N }
}

async function rawEmitter(): Promise<Sample> {
  const emitter = new EventEmitter()
  let handled = 0
  let done!: () => void
  const finished = new Promise<void>((r) => (done = r))
  emitter.on('feedback.created', () => {
    if (++handled === N) done()
  })
  return timed(async () => {
    for (const e of events) emitter.emit('feedback.created', e)
    await finished
  })
}

async function validationOnly(): Promise<Sample> {
  return timed(async () => {
    for (const e of events) {
      Feedback.schema.parse(e)
      Feedback.schema.parse(e)
    }
  })
}

async function tierbus(mode: 'publish' | 'batch'): Promise<Sample> {
  const bus = createBus({ transport: memoryTransport({ retention: 0 }), source: 'bench', concurrency: 64 })
  let handled = 0
  let done!: () => void
  const finished = new Promise<void>((r) => (done = r))
  await bus.subscribe(
    Feedback,
    () => {
      if (++handled === N) done()
    },
    { group: 'bench' },
  )
  const sample = await timed(async () => {
    if (mode === 'publish') {
      for (const e of events) await bus.publish(Feedback, e)
    } else {
      for (let i = 0; i < N; i += 1000) await bus.publishBatch(Feedback, events.slice(i, i + 1000))
    }
    await finished
  })
  await bus.close()
  return sample
}

const paths: Array<[string, () => Promise<Sample>]> = [
  ['EventEmitter (raw, no validation)', rawEmitter],
  ['zod parse x2 only (publish + consume)', validationOnly],
  ['tierbus publish() one at a time', () => tierbus('publish')],
  ['tierbus publishBatch(1,000)', () => tierbus('batch')],
]
for (const [, fn] of paths) await fn() // warm-up (JIT)
const samples = paths.map((): Sample[] => [])
for (let r = 0; r < RUNS; r++) for (const [i, [, fn]] of paths.entries()) samples[i]?.push(await fn())
const results = paths.map(([name], i) => {
  const runs = samples[i] ?? []
  return { name, rate: median(runs.map((s) => s.rate)), cpuUs: median(runs.map((s) => s.cpuUs)) }
})
const [raw, validate, single, batch] = results as [
  (typeof results)[number],
  (typeof results)[number],
  (typeof results)[number],
  (typeof results)[number],
]

const perCpuSecond = (cpuUs: number) => 1e6 / cpuUs
const verdict = (r: { rate: number; cpuUs: number }, aim: number) =>
  `${r.rate >= aim ? 'met' : 'not met'} on the wall clock, ${perCpuSecond(r.cpuUs) >= aim ? 'met' : 'not met'} per CPU-second`
console.log(`memory tier, ${fmt(N)} events of ${payloadBytes} B, median of ${RUNS} interleaved runs`)
for (const r of results) {
  console.log(
    `  ${r.name.padEnd(40)} ${fmt(r.rate).padStart(12)} events/s  ${fmt(r.cpuUs, 2).padStart(6)} CPU us/event  ${fmt(perCpuSecond(r.cpuUs)).padStart(12)} events/CPU-s`,
  )
}
const coreCpu = single.cpuUs - validate.cpuUs - raw.cpuUs
console.log(
  `  CPU per event over raw: ${fmt(single.cpuUs - raw.cpuUs, 2)} us (zod validation ${fmt(validate.cpuUs, 2)} us, core ${fmt(coreCpu, 2)} us)`,
)
console.log(
  `  aim >= 500,000 events/s one at a time: ${verdict(single, 500_000)}; aim >= 1,000,000 batched: ${verdict(batch, 1_000_000)}`,
)

printSummary({
  tier: 'memory',
  ratios: {},
  figures: {
    'one at a time, events/s (wall)': single.rate,
    'one at a time, events/CPU-s': perCpuSecond(single.cpuUs),
    'batched, events/s (wall)': batch.rate,
    'batched, events/CPU-s': perCpuSecond(batch.cpuUs),
  },
})

writeBenchSection(
  'memory',
  `## Memory tier (bench/memory.ts)

${machineLine()}; load average ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' / ')} over ${cpus().length} cores while it ran. ${fmt(N)} events of
${payloadBytes} bytes (JSON; 1,000 distinct payloads in turn), published then handled by one subscription (concurrency 64),
schema validation on at publish and at consume; median of ${RUNS} interleaved runs after a warm-up. The baseline is Node's
\`EventEmitter\` handing the same objects to a handler. "CPU µs/event" is the process CPU time (all threads, GC included)
divided by the events; "events/CPU-s" is its inverse: the rate with a core to itself.

${table(
  ['path', 'events/s (wall)', 'CPU µs/event', 'events/CPU-s', 'vs raw (CPU)'],
  results.map((r) => [r.name, fmt(r.rate), fmt(r.cpuUs, 2), fmt(perCpuSecond(r.cpuUs)), fmt(raw.cpuUs / r.cpuUs, 3)]),
)}

${bars(
  results.map((r) => [r.name, perCpuSecond(r.cpuUs)] as const),
  'events/CPU-s',
)}

CPU per event of tierbus over the raw emitter: **${fmt(single.cpuUs - raw.cpuUs, 2)} µs** with one \`publish()\` per event, of which
${fmt(validate.cpuUs, 2)} µs is the two zod parses and ${fmt(coreCpu, 2)} µs the core itself (envelope, UUIDv7 id, routing, consumer
runtime, metrics). Aim ≥ 500,000 events/s one at a time: **${verdict(single, 500_000)}**; aim ≥ 1,000,000 batched:
**${verdict(batch, 1_000_000)}**.`,
)
