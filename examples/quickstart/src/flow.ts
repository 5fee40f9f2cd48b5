import { type Bus, createBus, type Transport } from '@tierbus/core'
import { eventually } from '@tierbus/core/testing'
import { FeedbackCreated } from './events.js'

const feedback = [
  { feedbackId: 'fb-1', projectId: 'p1', text: 'Love the new roadmap view!' },
  { feedbackId: 'fb-2', projectId: 'p1', text: 'Export to CSV is broken again', channel: 'email' as const },
  { feedbackId: 'fb-3', projectId: 'p2', text: 'Please add dark mode', channel: 'slack' as const },
  { feedbackId: 'fb-4', projectId: 'p2', text: '\u0007\u0008 binary garbage from a broken widget' },
  { feedbackId: 'fb-5', projectId: 'p1', text: 'Fast support, thanks' },
]

/** Runs seed 004's feedback flow on one transport and prints what happened. */
export async function runFeedbackFlow(transport: Transport, log: (line: string) => void): Promise<Bus> {
  const started = Date.now()
  const say = (line: string) => log(`  +${String(Date.now() - started).padStart(4)} ms  ${line}`)
  const bus = createBus({
    transport,
    source: 'signalsloop/api',
    retry: { attempts: 3, backoff: { baseMs: 50, maxMs: 400 } },
    onError: () => {},
  })

  // Agent 1: sentiment. The model API fails once for fb-2 (transient: retried, then succeeds) and can
  // never read fb-4 (poison: dead-lettered after 3 attempts with the error).
  let flaky = true
  const sentiment = new Map<string, string>()
  await bus.subscribe(
    FeedbackCreated,
    async (e) => {
      // biome-ignore lint/suspicious/noControlCharactersInRegex: the poison message is the one with control characters
      if (/[\u0001-\u0008]/.test(e.data.text)) {
        say(`sentiment-agent   ${e.data.feedbackId} attempt ${e.attempt}: cannot tokenize input`)
        throw new Error('tokenizer rejected control characters')
      }
      if (e.data.feedbackId === 'fb-2' && flaky) {
        flaky = false
        say(`sentiment-agent   ${e.data.feedbackId} attempt ${e.attempt}: sentiment API returned 503, will retry`)
        throw new Error('sentiment API 503')
      }
      const label = /love|thanks|fast/i.test(e.data.text)
        ? 'positive'
        : /broken|bug/i.test(e.data.text)
          ? 'negative'
          : 'neutral'
      sentiment.set(e.data.feedbackId, label)
      say(`sentiment-agent   ${e.data.feedbackId} attempt ${e.attempt}: ${label}`)
    },
    { group: 'sentiment-agent', concurrency: 4 },
  )

  // Agent 2: categorization, a second group: it gets its own copy of every event.
  const categories = new Map<string, string>()
  await bus.subscribe(
    'feedback.*',
    (e) => {
      const data = e.data as { feedbackId: string; text: string }
      const category = /export|csv|broken/i.test(data.text)
        ? 'bug'
        : /add|please/i.test(data.text)
          ? 'feature-request'
          : 'praise'
      categories.set(data.feedbackId, category)
      say(`category-agent    ${data.feedbackId}: ${category}`)
    },
    { group: 'categorization-agent', concurrency: 2 },
  )

  const published = new Set<string>()
  for (const item of feedback) {
    say(`publish           ${item.feedbackId} (${item.channel ?? 'widget'}, project ${item.projectId})`)
    published.add((await bus.publish(FeedbackCreated, item, { key: item.projectId })).id)
  }

  await eventually(
    () => sentiment.size === 4 && categories.size === 5 && bus.metrics().totals.deadLettered === 1,
    'the flow to settle',
    { timeoutMs: 30_000 },
  )

  // A persistent tier keeps dead letters of earlier runs too: show this run's.
  const dead = (await bus.deadLetters.list({ limit: 1000 })).filter((d) => d.envelope && published.has(d.envelope.id))
  log('')
  log(`  sentiment:       ${[...sentiment].map(([id, s]) => `${id}=${s}`).join(', ')}`)
  log(`  categories:      ${[...categories].map(([id, c]) => `${id}=${c}`).join(', ')}`)
  for (const d of dead) {
    log(
      `  dead letter:     ${(d.envelope?.data as { feedbackId?: string } | undefined)?.feedbackId} in group ${d.group}: ${d.reason.kind} after ${d.reason.attempts} attempts (${d.reason.error})`,
    )
  }
  return bus
}

/** The metrics snapshot, trimmed to what a person reads. */
export function summarizeMetrics(bus: Bus): unknown {
  const m = bus.metrics()
  return {
    transport: m.transport,
    totals: m.totals,
    errorRate: m.errorRate,
    handlerMs: m.handlerMs,
    endToEndMs: m.endToEndMs,
    rates: m.rates,
  }
}
