import { pgliteAdapter, postgresAdapter, supabaseAdapter } from '@tierbus/db-realtime'
import { migrationAdapter } from '@tierbus/migrator'
import { sharedBus, singleton, startConsumers } from '@tierbus/next'
import { FeedbackCreated } from './events'

/**
 * The tiers this app can run on, passed statically so the bundler includes them; TIERBUS_TRANSPORT picks
 * one at startup. Add e.g. `redisAdapter` from `@tierbus/redis-streams` when you install that tier.
 */
const adapters = [postgresAdapter, pgliteAdapter, supabaseAdapter, migrationAdapter]

/** Options of the shared bus (also given to startConsumers, which creates it when the tier is up). */
const busOptions = {
  source: 'signalsloop/web',
  events: [FeedbackCreated],
  retry: { attempts: 3, backoff: { baseMs: 100, maxMs: 400 } },
  adapters,
}

/** The app's bus: the tier is whatever TIERBUS_TRANSPORT (and its variables) say. */
export const getBus = () => sharedBus(busOptions)

/** What the agents produced, and the sentiment model's health (toggled by /api/model to show the DLQ). */
export const state = singleton('signalsloop:state', () => ({
  model: { healthy: true },
  results: [] as Array<{ feedbackId: string; text: string; sentiment: string; attempt: number; at: string }>,
}))

/**
 * Starts the agents once per server process (called from instrumentation.ts). startConsumers returns at
 * once and retries with backoff while the tier is down, so the app serves pages either way.
 */
export function startAgents(): void {
  void startConsumers(async (bus) => {
    await bus.subscribe(
      FeedbackCreated,
      async (e) => {
        if (!state.model.healthy) throw new Error('sentiment API 503')
        const sentiment = /love|great|thanks|fast/i.test(e.data.text)
          ? 'positive'
          : /broken|bug|slow/i.test(e.data.text)
            ? 'negative'
            : 'neutral'
        state.results.unshift({
          feedbackId: e.data.feedbackId,
          text: e.data.text,
          sentiment,
          attempt: e.attempt,
          at: new Date().toISOString(),
        })
        state.results.length = Math.min(state.results.length, 50)
      },
      { group: 'sentiment-agent', concurrency: 4 },
    )
    await bus.subscribe('feedback.*', () => {}, { group: 'categorization-agent', concurrency: 2 })
  }, busOptions)
}
