import { mkdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { memoryTransport } from '@tierbus/core'
import { pgliteTransport } from '@tierbus/db-realtime'
import { runFeedbackFlow, summarizeMetrics } from './flow.js'

const log = (line: string) => console.log(line)

log('tierbus quickstart: seed 004 feedback.created flow')
log('  two agent groups (sentiment-agent, categorization-agent) consume every event;')
log('  one transient failure is retried, one poison event is dead-lettered.')
log('')
log('== tier 0: memory (in-process)')
const memoryBus = await runFeedbackFlow(memoryTransport(), log)
log('')
log('  metrics snapshot:')
log(JSON.stringify(summarizeMetrics(memoryBus), null, 2).replace(/^/gm, '  '))
await memoryBus.close()

// The same code on tier 1, with Postgres embedded in this process (PGlite): events, group state and
// dead letters live in a data directory, so they survive restarts — run the demo twice.
const dataDir = fileURLToPath(new URL('../../../.tierbus/quickstart-pglite', import.meta.url))
mkdirSync(dataDir, { recursive: true })
log('')
log(`== tier 1: db-realtime on embedded PGlite (data in ${dataDir})`)
const started = new Date()
const transport = await pgliteTransport({ dataDir })
const pgliteBus = await runFeedbackFlow(transport, log)
const replayed: string[] = []
await transport.replay(
  { from: new Date(started.getTime() - 60_000), to: new Date(), pattern: 'feedback.*' },
  async (e) => {
    replayed.push(e.id)
  },
)
log('')
log(`  audit trail: replayed ${replayed.length} feedback event(s) from the last minute of the events table (all runs)`)
log(`  metrics: ${JSON.stringify(summarizeMetrics(pgliteBus))}`)
await pgliteBus.close()
