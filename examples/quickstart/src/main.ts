import { memoryTransport } from '@tierbus/core'
import { runFeedbackFlow, summarizeMetrics } from './flow.js'

const log = (line: string) => console.log(line)

log('tierbus quickstart: seed 004 feedback.created flow')
log('  two agent groups (sentiment-agent, categorization-agent) consume every event;')
log('  one transient failure is retried, one poison event is dead-lettered.')
log('')
log('== tier 0: memory (in-process)')
const bus = await runFeedbackFlow(memoryTransport(), log)
log('')
log('  metrics snapshot:')
log(JSON.stringify(summarizeMetrics(bus), null, 2).replace(/^/gm, '  '))
await bus.close()
