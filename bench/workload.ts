import { defineEvent } from '@tierbus/core'
import { z } from 'zod'

/** Seed 001's NLP task (`work.nlp.>` in a queue group), ~1 KB, as the broker benchmarks publish it. */
export const Task = defineEvent(
  'work.nlp.high.sentiment',
  z.object({ taskId: z.string(), agent: z.string(), text: z.string(), priority: z.number(), sentAt: z.number() }),
)

/** The i-th task; `sentAt` carries the send time for end-to-end latency. */
export const sample = (i: number, sentAt = 0) => ({
  taskId: `t-${i}`,
  agent: 'nlp-001',
  text: 'x'.repeat(900),
  priority: i % 3,
  sentAt,
})

/** The ~1 KB feedback event of the memory and db benches (SignalsLoop's queue evaluation). */
export const Feedback = defineEvent(
  'feedback.created',
  z.object({
    feedbackId: z.string(),
    projectId: z.string(),
    text: z.string(),
    score: z.number(),
    tags: z.array(z.string()),
  }),
)

/** The i-th feedback event's data. */
export const feedback = (i: number) => ({
  feedbackId: `fb-${i}`,
  projectId: 'p-1',
  text: 'x'.repeat(900),
  score: i % 5,
  tags: ['ui', 'export', 'billing'],
})

/** A sub-millisecond wall clock shared by the sending and receiving side of one process. */
export const now = () => performance.timeOrigin + performance.now()

/** Events handed out at once per consumer in throughput runs. */
export const IN_FLIGHT = 64
/** Events per second of the end-to-end latency runs (the issues' "at 1,000 events/s"). */
export const RATE = 1_000
/** How long each latency run lasts. */
export const LATENCY_SECONDS = Number(process.env.BENCH_LATENCY_SECONDS ?? 5)
/** Latency runs per side, raw and tierbus alternating (the reported p99 is the median of the runs' p99s). */
export const LATENCY_RUNS = Number(process.env.BENCH_LATENCY_RUNS ?? 3)
