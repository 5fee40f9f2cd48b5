import { defineEvent } from '@tierbus/core'
import { z } from 'zod'

/** SignalsLoop's domain event (seed 004): a user submitted feedback. */
export const FeedbackCreated = defineEvent(
  'feedback.created',
  z.object({
    feedbackId: z.string(),
    projectId: z.string(),
    text: z.string().min(1),
    channel: z.enum(['widget', 'email', 'slack']).default('widget'),
  }),
)
