/**
 * One consumer process of bench/db.ts's seed-peak run: subscribes a group on Postgres with concurrency 64
 * and a no-op handler, and reports to its parent (IPC) how many events it handled and their
 * publish→handler latencies, every 250 ms. Started by bench/db.ts; stops on the message 'stop'.
 * Env: DATABASE_URL, BENCH_SCHEMA, BENCH_GROUP.
 */
import { createBus } from '@tierbus/core'
import { postgresTransport } from '@tierbus/db-realtime'
import { IN_FLIGHT, now, Task } from './workload.js'

/** What a consumer process reports to bench/db.ts. */
export interface PeakReport {
  readonly handled: number
  readonly latencies: number[]
}

const send = (message: PeakReport | 'ready') => process.send?.(message)
const transport = await postgresTransport({
  connectionString: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
  schema: process.env.BENCH_SCHEMA ?? 'tierbus',
  migrate: false,
  onError: () => {},
})
const bus = createBus({ transport, source: 'bench', concurrency: IN_FLIGHT })
let handled = 0
let latencies: number[] = []
await bus.subscribe(
  Task,
  (e) => {
    handled++
    latencies.push(now() - e.data.sentAt)
  },
  { group: process.env.BENCH_GROUP ?? 'peak' },
)
const report = () => {
  send({ handled, latencies })
  handled = 0
  latencies = []
}
const timer = setInterval(report, 250)
process.on('message', (message) => {
  if (message !== 'stop') return
  clearInterval(timer)
  report()
  void bus.close().then(() => process.exit(0))
})
send('ready')
