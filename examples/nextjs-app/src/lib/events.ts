import { defineEvent } from '@tierbus/core'
import { z } from 'zod'

/** SignalsLoop's domain event (seed 004). */
export const FeedbackCreated = defineEvent(
  'feedback.created',
  z.object({ feedbackId: z.string(), text: z.string().min(1).max(2_000) }),
)
