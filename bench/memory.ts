/**
 * Memory tier benchmark (issue: >= 300k events/s publish->handler, 1 KB events, validation on).
 * Baseline: Node's EventEmitter delivering the same objects to a handler, in the same process and run.
 * Run: npm run bench:memory
 */
import { EventEmitter } from 'node:events'
import { createBus, defineEvent, memoryTransport } from '@tierbus/core'
import { z } from 'zod'
import { bars, fmt, machineLine, median, table, writeBenchSection } from './report.js'

const N = Number(process.env.BENCH_EVENTS ?? 100_000)
const RUNS = Number(process.env.BENCH_RUNS ?? 5)

const Feedback = defineEvent(
  'feedback.created',
  z.object({ feedbackId: z.string(), projectId: z.string(), text: z.string(), score: z.number(), tags: z.array(z.string()) }),
)
const sample = (i: number) => ({
  feedbackId: `fb-${i}`,
  projectId: 'p-1',
  text: 'x'.repeat(900),
  score: i % 5,
  tags: ['ui', 'export', 'billing'],
})
const payloadBytes = Buffer.byteLength(JSON.stringify(sample(0)))
// 1,000 distinct payloads reused in turn: as in an app, payloads die young instead of 100 MB staying
// live for the whole run (which would make every major GC, of raw and tierbus alike, scan them).
const distinct = Array.from({ length: 1000 }, (_, i) => sample(i))
const events = Array.from({ length: N }, (_, i) => distinct[i % distinct.length]!)

async function rawEmitter(): Promise<number> {
  const emitter = new EventEmitter()
  let handled = 0
  let done!: () => void
  const finished = new Promise<void>((r) => (done = r))
  emitter.on('feedback.created', () => {
    if (++handled === N) done()
  })
  const t0 = performance.now()
  for (const e of events) emitter.emit('feedback.created', e)
  await finished
  return N / ((performance.now() - t0) / 1000)
}

async function validationOnly(): Promise<number> {
  const t0 = performance.now()
  for (const e of events) {
    Feedback.schema.parse(e)
    Feedback.schema.parse(e)
  }
  return N / ((performance.now() - t0) / 1000)
}

async function tierbus(mode: 'publish' | 'batch'): Promise<number> {
  const bus = createBus({ transport: memoryTransport({ retention: 0 }), source: 'bench', concurrency: 64 })
  let handled = 0
  let done!: () => void
  const finished = new Promise<void>((r) => (done = r))
  await bus.subscribe(Feedback, () => {
    if (++handled === N) done()
  }, { group: 'bench' })
  const t0 = performance.now()
  if (mode === 'publish') {
    for (const e of events) await bus.publish(Feedback, e)
  } else {
    for (let i = 0; i < N; i += 1000) await bus.publishBatch(Feedback, events.slice(i, i + 1000))
  }
  await finished
  const rate = N / ((performance.now() - t0) / 1000)
  await bus.close()
  return rate
}

async function measure(fn: () => Promise<number>): Promise<number> {
  await fn() // warm-up (JIT)
  const rates: number[] = []
  for (let r = 0; r < RUNS; r++) rates.push(await fn())
  return median(rates)
}

const raw = await measure(rawEmitter)
const validate = await measure(validationOnly)
const single = await measure(() => tierbus('publish'))
const batch = await measure(() => tierbus('batch'))

const usPer = (rate: number) => 1e6 / rate
const rows: Array<[string, number]> = [
  ['EventEmitter (raw, no validation)', raw],
  ['zod parse x2 only (publish + consume)', validate],
  ['tierbus publish() one at a time', single],
  ['tierbus publishBatch(1,000)', batch],
]
console.log(`memory tier, ${fmt(N)} events of ${payloadBytes} B, median of ${RUNS} runs`)
for (const [name, rate] of rows) console.log(`  ${name.padEnd(40)} ${fmt(rate).padStart(12)} events/s  ${fmt(usPer(rate), 2).padStart(7)} us/event`)
const overheadSingle = usPer(single) - usPer(raw)
const overheadCore = usPer(single) - usPer(validate) - usPer(raw)
console.log(`  per-event overhead vs raw: ${fmt(overheadSingle, 2)} us (of which zod validation ${fmt(usPer(validate), 2)} us, core ${fmt(overheadCore, 2)} us)`)
console.log(`  ratio tierbus/raw: ${fmt(single / raw, 3)} (publish), ${fmt(batch / raw, 3)} (batch); aim >= 300,000 events/s: ${single >= 300_000 ? 'met' : 'NOT met'}`)

writeBenchSection(
  'memory',
  `## Memory tier (bench/memory.ts)

${machineLine()}. ${fmt(N)} events of ${payloadBytes} bytes (JSON; 1,000 distinct payloads in turn), published then handled by one
subscription (concurrency 64), schema validation on at publish and at consume; median of ${RUNS} runs after
a warm-up. The baseline is Node's \`EventEmitter\` handing the same objects to a handler.

${table(
  ['path', 'events/s', 'µs/event', 'vs raw'],
  rows.map(([name, rate]) => [name, fmt(rate), fmt(usPer(rate), 2), fmt(rate / raw, 3)]),
)}

${bars(rows, 'events/s')}

Per-event cost of tierbus over the raw emitter: **${fmt(overheadSingle, 2)} µs** with one \`publish()\` per
event, of which ${fmt(usPer(validate), 2)} µs is the two zod parses and ${fmt(overheadCore, 2)} µs the core itself (envelope, UUIDv7 id,
routing, consumer runtime, metrics). Aim ≥ 300,000 events/s publish→handler: **${single >= 300_000 ? 'met' : 'not met'}**
(${fmt(single)} events/s one at a time, ${fmt(batch)} events/s batched).`,
)
