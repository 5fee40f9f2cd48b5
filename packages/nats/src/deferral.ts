import type { Envelope } from '@tierbus/core'
import { type MsgHdrs, headers as natsHeaders } from 'nats'

/**
 * Header carrying a delayed event's due time (ms since the epoch), so a consumer can defer it without
 * decoding the body. JetStream has no per-message delay on this server line (2.9/2.10): a message that
 * arrives early is nak'ed with the remaining delay and comes back when due.
 */
export const DELIVER_AT_HEADER = 'Tierbus-Deliver-At'

/** Longest single deferral, ms: a later due time is reached in several naks (each re-reads the header). */
export const MAX_DEFERRAL_MS = 86_400_000

/** Headers for publishing `envelope`: its due time when it has one in the future, else none. */
export function deferralHeaders(envelope: Envelope, now = Date.now()): MsgHdrs | undefined {
  if (envelope.deliverat === undefined) return undefined
  const due = Date.parse(envelope.deliverat)
  if (!(due > now)) return undefined
  const h = natsHeaders()
  h.set(DELIVER_AT_HEADER, String(due))
  return h
}

/** The due time a message carries, when it has a well-formed one. */
export function dueTimeOf(headers: MsgHdrs | undefined): number | undefined {
  const raw = headers?.get(DELIVER_AT_HEADER)
  if (!raw || !/^[0-9]{1,15}$/.test(raw)) return undefined
  return Number(raw)
}

/** How long to defer a message due at `due`, ms; 0 when it is due now. */
export function deferralMs(due: number | undefined, now = Date.now()): number {
  if (due === undefined || due <= now) return 0
  return Math.min(MAX_DEFERRAL_MS, due - now)
}

/**
 * The attempt of a delivery whose JetStream delivery count includes deferral naks: a message published
 * at `publishedAt` and due at `due` was deferred about once per `MAX_DEFERRAL_MS` by a live consumer.
 * When no consumer was up before the due time, none happened, and this errs toward one more attempt
 * (never fewer) for that message.
 */
export function attemptAfterDeferrals(deliveryCount: number, due: number | undefined, publishedAt: number): number {
  if (due === undefined || !(due > publishedAt)) return deliveryCount
  const deferrals = Math.ceil((due - publishedAt) / MAX_DEFERRAL_MS)
  return Math.max(1, deliveryCount - deferrals)
}
