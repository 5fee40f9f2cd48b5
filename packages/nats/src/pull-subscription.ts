import type { Delivery, Subscription, SubscriptionSpec } from '@tierbus/core'
import { BatchPump, InFlight, LeaseKeeper, WakeableSleep } from '@tierbus/core/adapter'
import { createInbox, type Msg, type NatsConnection, type Subscription as NatsSubscription } from 'nats'
import { type JetStreamDeadLetters, REDRIVE_HEADER } from './dead-letters.js'
import { deferralMs, dueTimeOf } from './deferral.js'
import { type DeliveryOwner, JetStreamDelivery } from './delivery.js'
import { PulledMessage } from './pulled-message.js'

/** What a pull subscription needs besides its spec. */
export interface PullContext {
  readonly connection: NatsConnection
  readonly stream: string
  readonly durable: string
  readonly deadLetters: JetStreamDeadLetters
  /** How long one pull request waits on the server, ms. */
  readonly fetchExpiresMs: number
  readonly onError: (err: unknown) => void
  /** True once the transport is closed (settles are then no-ops). */
  readonly isClosed: () => boolean
  /** Runs after intake stopped (e.g. deletes an ephemeral durable). */
  readonly onClose?: () => Promise<void>
  /** Ordered groups: how long a pull sent now may wait, ms (0: this member must not pull now). */
  readonly pullWindowMs?: () => number
}

/** Shortest pull an ordered member sends; with less of its lease left it waits for the renewal. */
const MIN_PULL_WINDOW_MS = 100

/** Pause after a failed pull (no JetStream, consumer missing) before the next one. */
const PULL_RETRY_MS = 500

interface OpenPull {
  remaining: number
  readonly expiresAt: number
}

/**
 * One member of a group: sends pull requests for the group's durable consumer to one inbox and
 * streams the messages to `onBatch` as they arrive. Messages handed out and not settled plus messages
 * requested and not yet received never exceed `spec.maxInFlight`, so a slow handler stops the pulling
 * (push-back) and at most `maxInFlight` messages are ever buffered. Freed slots are requested again at
 * once when no pull is open, or in steps of a quarter of `maxInFlight` alongside open ones, so pulls
 * overlap and no round trip leaves the consumer idle.
 */
export class PullSubscription implements Subscription, DeliveryOwner {
  readonly group: string
  readonly durable: string
  readonly deadLetters: JetStreamDeadLetters
  private readonly inFlight: InFlight
  private readonly pulls: OpenPull[] = []
  private closed = false
  private failedAt = 0
  private readonly sleeper = new WakeableSleep()
  private readonly pump: BatchPump<JetStreamDelivery>
  private readonly inbox = createInbox()
  private readonly sub: NatsSubscription
  private readonly nextSubject: string
  private readonly loop: Promise<void>
  /**
   * Ordered groups only: every message handed to core and not settled gets `working` (+WPI) each half
   * lease, also while it waits behind its key's lane (core renews only running ones), so it is never
   * redelivered to a next owner while this member may still run it; a dead member's renewals stop.
   */
  private readonly held: LeaseKeeper<PulledMessage> | undefined

  constructor(
    private readonly spec: SubscriptionSpec,
    onBatch: (batch: Delivery[]) => Promise<void>,
    private readonly ctx: PullContext,
  ) {
    this.group = spec.group
    this.durable = ctx.durable
    this.deadLetters = ctx.deadLetters
    this.inFlight = new InFlight(spec.maxInFlight, () => this.sleeper.wake())
    this.nextSubject = `$JS.API.CONSUMER.MSG.NEXT.${ctx.stream}.${ctx.durable}`
    this.pump = new BatchPump(onBatch, ctx.onError)
    this.held = ctx.pullWindowMs
      ? new LeaseKeeper<PulledMessage>(spec.leaseMs, (m) => {
          if (ctx.isClosed()) return this.held?.stop()
          try {
            m.working()
          } catch (err) {
            ctx.onError(err)
          }
        })
      : undefined
    this.sub = ctx.connection.subscribe(this.inbox, {
      callback: (err, msg) => (err ? ctx.onError(err) : this.receive(msg)),
    })
    this.loop = this.run()
  }

  /** A handed-out message was settled. */
  settled(msg: PulledMessage): void {
    this.held?.untrack(msg)
  }

  /** Looks again at once (an ordered member became the owner). */
  wake(): void {
    this.sleeper.wake()
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.sub.unsubscribe()
    // Messages pulled but never handed out go back at once instead of waiting out ack_wait.
    for (const d of this.pump.stop()) await d.retry(0).catch(() => {})
    this.sleeper.wake()
    await this.loop
    await this.ctx.onClose?.()
  }

  private get owed(): number {
    let n = 0
    for (const p of this.pulls) n += p.remaining
    return n
  }

  private async run(): Promise<void> {
    const max = this.spec.maxInFlight
    const step = Math.max(1, Math.ceil(max / 4))
    while (!this.closed) {
      this.forgetExpired()
      const free = max - this.inFlight.held - this.owed
      const pause = this.failedAt + PULL_RETRY_MS - Date.now()
      const window = this.ctx.pullWindowMs ? this.ctx.pullWindowMs() : this.ctx.fetchExpiresMs
      if (window < MIN_PULL_WINDOW_MS) {
        // An ordered member that does not own its group's consumer (or must wait): look again soon.
        await this.sleeper.sleep(MIN_PULL_WINDOW_MS)
        continue
      }
      if (free > 0 && pause <= 0 && (this.pulls.length === 0 || free >= step)) {
        this.pull(free, Math.min(window, this.ctx.fetchExpiresMs))
        continue
      }
      // Also wake when an open pull should have expired (its 408 can be lost across a reconnect).
      const wait =
        pause > 0 ? pause : this.pulls.length > 0 ? this.ctx.fetchExpiresMs + 1_000 : Number.POSITIVE_INFINITY
      await this.sleeper.sleep(wait)
    }
  }

  private pull(batch: number, expires: number): void {
    this.pulls.push({ remaining: batch, expiresAt: Date.now() + expires })
    try {
      this.ctx.connection.publish(this.nextSubject, JSON.stringify({ batch, expires: expires * 1_000_000 }), {
        reply: this.inbox,
      })
    } catch (err) {
      this.pulls.pop()
      this.fail(err)
    }
  }

  /** Drops pulls well past their expiry whose end the server never reported. */
  private forgetExpired(): void {
    const now = Date.now()
    while ((this.pulls[0]?.expiresAt ?? Number.POSITIVE_INFINITY) + 1_000 < now) this.pulls.shift()
  }

  private fail(err: unknown): void {
    if (this.closed) return
    this.ctx.onError(err)
    this.failedAt = Date.now()
  }

  private receive(msg: Msg): void {
    const status = msg.data.length === 0 ? (msg.headers?.code ?? 0) : 0
    if (status >= 100) {
      this.status(msg, status)
      return
    }
    // The server serves pull requests in order: a message counts against the oldest open one.
    const pull = this.pulls[0]
    if (pull && --pull.remaining <= 0) this.pulls.shift()
    const m = new PulledMessage(msg)
    if (this.closed) {
      m.nak()
      return
    }
    const target = m.headers?.get(REDRIVE_HEADER)
    if (target && target !== this.durable) {
      // A dead letter redriven to another group: not ours to handle.
      m.ack()
      return
    }
    const deferral = deferralMs(dueTimeOf(m.headers))
    if (deferral > 0) {
      // A delayed event that arrived early: back to the server until it is due; no slot taken.
      m.nak(deferral)
      return
    }
    const slot = this.inFlight.takeOne()
    this.held?.track(m)
    this.pump.push(new JetStreamDelivery(m, this, slot, this.ctx.isClosed), slot)
  }

  /** A pull request ended (408 expired, 409 ...) or could not be served (503: no JetStream / no consumer). */
  private status(msg: Msg, code: number): void {
    if (code === 100) return // idle heartbeat
    // A status ends the oldest open request (served FIFO); what it did not bring is no longer owed.
    this.pulls.shift()
    if (code !== 408 && code !== 404) {
      this.fail(
        new Error(
          `JetStream pull from consumer ${this.durable} on stream ${this.ctx.stream} answered ${code} ${msg.headers?.description ?? ''}`.trim(),
        ),
      )
    }
    this.sleeper.wake()
  }
}
