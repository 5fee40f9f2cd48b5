import { defineEvent, type Envelope, envelopeIssues } from '@tierbus/core'
import { z } from 'zod'

/**
 * The data of a pending (`_migration.*`) event: a whole envelope the relay republishes to the other tier.
 * It is checked as a tier checks what it decodes (CloudEvents attributes, the event-type grammar, `replyto`
 * only as a request-reply inbox), replies included, so a forged pending event cannot make the relay publish
 * onto an arbitrary subject, key or reply target; the consumer dead-letters it as an invalid payload instead.
 */
export const RelayedEnvelope = z.custom<Envelope>().superRefine((value, ctx) => {
  for (const issue of envelopeIssues(value))
    ctx.addIssue({ code: 'custom', path: issue.path ? [issue.path] : [], message: issue.message })
})

/** Pending events bound for one side, subscribed by definition so every relayed envelope is validated first. */
export function pendingEvent<TType extends string>(type: TType) {
  return defineEvent(type, RelayedEnvelope)
}
