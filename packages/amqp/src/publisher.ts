import type { ConfirmChannel, ConsumeMessage, Options } from 'amqplib'
import { PublishNackedError, transportError, UnroutableError } from './errors.js'

/** One message for `Publisher.publish`. */
export interface OutgoingMessage {
  readonly exchange: string
  readonly routingKey: string
  readonly content: Buffer
  /** Properties; `messageId` must be set when `mandatory` (a return is matched to its publish by it). */
  readonly properties: Options.Publish & { messageId: string }
  /** Ask the broker to return it when no queue takes it (sends to one named queue), instead of dropping it. */
  readonly mandatory?: boolean
  /** What it is, for error messages (`event order.created`, `a dead letter of group billing`). */
  readonly what: string
}

/**
 * Publishes on one confirm channel: each `publish` resolves once the broker confirmed the message
 * (`basic.ack`: stored by every queue it was routed to), rejects with `PublishNackedError` on a
 * `basic.nack`, with `UnroutableError` when a mandatory message came back (`basic.return`, which the
 * broker sends before its confirm), and with a TransportError when the channel closed first. Honours
 * the socket's back-pressure: once a write reports a full buffer, later ones wait for `drain`.
 */
export class Publisher {
  /** messageIds of mandatory messages the broker returned, until their confirm arrives. */
  private readonly returned = new Set<string>()
  private drained: Promise<void> | undefined
  private closed = false
  /** amqplib's publish one level down, when this amqplib version has it (see `sendDirect`). */
  private readonly direct: DirectChannel | undefined

  constructor(
    private readonly channel: ConfirmChannel,
    /** Called once when the broker closed the channel (a publish to a deleted exchange ...), not on `close()`. */
    onLost: () => void = () => {},
  ) {
    this.direct = directChannel(channel)
    channel.on('return', (msg: ConsumeMessage) => {
      const id = msg.properties.messageId as unknown
      if (typeof id === 'string') this.returned.add(id)
    })
    channel.on('drain', () => (this.drained = undefined))
    // A channel error is followed by 'close', which fails what is unconfirmed; the listener keeps it from throwing.
    channel.on('error', () => {})
    channel.on('close', () => {
      if (this.closed) return
      this.closed = true
      onLost()
    })
  }

  /**
   * Publishes and resolves on the broker's confirm. The hot path of every publish, so: not an async
   * function (two promises and an async frame less per event) and no `{ ...properties }` copy per event
   * (profiled: the copy made amqplib's own options handling about three times as slow).
   */
  publish(m: OutgoingMessage): Promise<void> {
    const drained = this.drained
    return drained ? drained.then(() => this.send(m)) : this.send(m)
  }

  private send(m: OutgoingMessage): Promise<void> {
    let settle!: Settle
    const confirmed = new Promise<void>((resolve, reject) => (settle = { resolve, reject }))
    // The confirm callback keeps only what it reads, not `m`: a batch's messages (and their content buffers)
    // would otherwise stay reachable until the broker confirms, and survive a young-generation GC or two.
    const callback = onConfirm(settle, this.returned, m.mandatory === true ? m.properties.messageId : undefined, m.what)
    try {
      if (!publishOne(this.channel, this.direct, m, callback))
        this.drained ??= new Promise((done) => this.channel.once('drain', () => done()))
    } catch (err) {
      settle.reject(transportError(`publishing ${m.what}`, err))
    }
    return confirmed
  }

  /** Closes the channel (what is unconfirmed then fails). */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.channel.close().catch(() => {})
  }
}

/** A promise's two settle functions. */
interface Settle {
  resolve(): void
  reject(err: unknown): void
}

/**
 * The confirm callback of one message: settles its publish on `basic.ack`, `basic.nack` or a closed channel.
 * `returnedId` is the messageId of a mandatory message (the broker may return it before its confirm).
 */
function onConfirm(
  settle: Settle,
  returned: Set<string>,
  returnedId: string | undefined,
  what: string,
): (err: unknown) => void {
  return (err) => {
    const wasReturned = returnedId !== undefined && returned.delete(returnedId)
    if (err)
      settle.reject(
        isNack(err)
          ? new PublishNackedError(what, { cause: err })
          : transportError(`publishing ${what} (the channel closed before the broker confirmed it)`, err),
      )
    else if (wasReturned) settle.reject(new UnroutableError(what))
    else settle.resolve()
  }
}

/**
 * The two methods `ConfirmChannel.publish` consists of in amqplib 0.10 (not in its typings). Looked for
 * when the publisher is made: an amqplib without them gets the public `publish`.
 */
interface DirectChannel {
  /** Queues the confirm callback of the next message (confirms come in publish order). */
  pushConfirmCallback(cb: (err: unknown) => void): void
  /** Encodes and writes basic.publish, its content header and body; false when the channel's buffer is full. */
  sendMessage(fields: object, properties: object, content: Buffer): boolean
}

function directChannel(channel: ConfirmChannel): DirectChannel | undefined {
  const c = channel as unknown as Partial<DirectChannel>
  return typeof c.pushConfirmCallback === 'function' && typeof c.sendMessage === 'function'
    ? (c as DirectChannel)
    : undefined
}

/** Sends one message, `confirmed` called on its confirm; false when the channel's buffer is full. */
function publishOne(
  channel: ConfirmChannel,
  direct: DirectChannel | undefined,
  m: OutgoingMessage,
  confirmed: (err: unknown) => void,
): boolean {
  const p = m.properties
  if (direct && p.CC === undefined && p.BCC === undefined) return sendDirect(direct, m, confirmed)
  // amqplib reads `mandatory` from the options: only a mandatory message needs a copy.
  return channel.publish(
    m.exchange,
    m.routingKey,
    m.content,
    m.mandatory === true ? { ...p, mandatory: true } : p,
    confirmed,
  )
}

/**
 * What `ConfirmChannel.publish` does, minus its options handling: that (`Args.publish`) makes each
 * message's `headers` object the prototype of a new one (`Object.create(options.headers)`), so every
 * publish with headers (each tierbus event has its `tierbus-key`) costs V8 a fresh prototype map, an
 * uncached for-in when the header table is encoded, and the garbage of both: profiled, about 2 us of
 * the ~19 us CPU per published event. The fields are the ones `Args.publish` builds, from the same
 * properties (only CC and BCC, which tierbus never sets, take the public path).
 */
function sendDirect(channel: DirectChannel, m: OutgoingMessage, confirmed: (err: unknown) => void): boolean {
  const p = m.properties
  const fields = {
    // method fields
    exchange: m.exchange,
    routingKey: m.routingKey,
    mandatory: m.mandatory === true,
    immediate: false,
    ticket: undefined,
    // properties
    contentType: p.contentType,
    contentEncoding: p.contentEncoding,
    // Args.publish always sends a header table, empty if need be.
    headers: p.headers ?? {},
    deliveryMode: deliveryModeOf(p),
    priority: p.priority,
    correlationId: p.correlationId,
    replyTo: p.replyTo,
    expiration: p.expiration === undefined ? undefined : p.expiration.toString(),
    messageId: p.messageId,
    timestamp: p.timestamp,
    type: p.type,
    userId: p.userId,
    appId: p.appId,
    clusterId: undefined,
  }
  channel.pushConfirmCallback(confirmed)
  return channel.sendMessage(fields, fields, m.content)
}

/** `deliveryMode` as Args.publish reads it: `persistent` first, else a number, else truthy means persistent. */
function deliveryModeOf(p: Options.Publish): number | undefined {
  if (p.persistent !== undefined) return p.persistent ? 2 : 1
  if (typeof p.deliveryMode === 'number') return p.deliveryMode
  return p.deliveryMode ? 2 : undefined
}

/** amqplib fails a confirm callback with this on `basic.nack` (and with `channel closed` when the channel went). */
function isNack(err: unknown): boolean {
  return err instanceof Error && err.message === 'message nacked'
}
