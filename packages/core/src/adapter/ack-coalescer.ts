/** Acks of one key (a stream and group, a queue, a group id) sent together in one round trip. */
export interface AckGroup<T> {
  readonly key: string
  readonly items: readonly T[]
}

/**
 * How one group's send went: `undefined` when every item was acked, `{ error }` when the group failed,
 * `{ itemErrors }` when some items failed (undefined at the index of each item that was acked).
 */
export type AckGroupResult = undefined | { readonly error: unknown } | { readonly itemErrors: ReadonlyArray<unknown> }

/** What the coalescer needs from a tier. */
export interface AckCoalescerOptions<T> {
  /** Sends every group in one round trip (a pipeline, parallel batch calls); one result per group, in order. A throw fails them all. */
  readonly send: (groups: ReadonlyArray<AckGroup<T>>) => Promise<ReadonlyArray<AckGroupResult>>
  /**
   * Most items of one key per group (e.g. SQS DeleteMessageBatch takes 10); larger groups are split. A key
   * whose queued acks reach it is sent at once, beside any send in flight: a full group cannot get fuller,
   * and holding it for the window or a round trip only keeps its handlers' slots taken. Default unlimited.
   */
  readonly maxGroupSize?: number
  /** How long an ack arriving while nothing is in flight waits for company, ms (default 0: the next event-loop turn). */
  readonly windowMs?: number
}

interface PendingAck<T> {
  readonly item: T
  readonly resolve: () => void
  readonly reject: (err: unknown) => void
}

let capturedResolve: () => void = noop
let capturedReject: (err: unknown) => void = noop
function capture(resolve: () => void, reject: (err: unknown) => void): void {
  capturedResolve = resolve
  capturedReject = reject
}
function noop(): void {}

/**
 * Coalesces acks: acks made while a send is in flight go together in the next one, grouped by key, so
 * under load one round trip acks hundreds of messages; alone, an ack waits one turn (or `windowMs`).
 * A key that fills `maxGroupSize` goes at once (see there). Each `ack` resolves once its own item was
 * acknowledged, and rejects with its own error.
 */
export class AckCoalescer<T> {
  private queue = new Map<string, Array<PendingAck<T>>>()
  private sending: Promise<void> | undefined
  /** Full groups sent at once, beside `sending`; not capped, as a round's groups are not (they go in parallel too). */
  private readonly fullSends = new Set<Promise<void>>()
  private timer: NodeJS.Timeout | undefined
  private scheduled = false
  private readonly maxGroupSize: number

  constructor(private readonly options: AckCoalescerOptions<T>) {
    this.maxGroupSize = options.maxGroupSize ?? Number.POSITIVE_INFINITY
  }

  /** Queues one ack under `key`; resolves once the backend acknowledged it. */
  ack(key: string, item: T): Promise<void> {
    // A shared executor instead of a closure per ack (one context and one function fewer on every
    // delivery's path): it only hands the resolving functions over, synchronously, inside `new Promise`.
    const promise = new Promise<void>(capture)
    const pending: PendingAck<T> = { item, resolve: capturedResolve, reject: capturedReject }
    capturedResolve = capturedReject = noop
    let list = this.queue.get(key)
    if (list) list.push(pending)
    else {
      list = [pending]
      this.queue.set(key, list)
    }
    if (list.length >= this.maxGroupSize) {
      this.queue.delete(key)
      this.sendFull({ key, acks: list })
    } else this.schedule()
    return promise
  }

  /** Sends everything queued now (no window) and waits until every send finished (close). */
  async flush(): Promise<void> {
    while (this.sending || this.queue.size > 0 || this.fullSends.size > 0) {
      this.cancelTimer()
      if (this.queue.size > 0) this.sending ??= this.send()
      await Promise.all([this.sending, ...this.fullSends])
    }
  }

  private schedule(): void {
    if (this.scheduled || this.sending) return
    this.scheduled = true
    const windowMs = this.options.windowMs ?? 0
    if (windowMs > 0) this.timer = setTimeout(this.go, windowMs)
    else setImmediate(this.go)
  }

  /**
   * The scheduled send. One function made once, not a closure inside schedule(): schedule() runs on every
   * ack, and its closure's context was allocated on entry, even by the calls that return at once.
   */
  private readonly go = (): void => {
    this.scheduled = false
    this.timer = undefined
    // A flush() may have sent everything meanwhile.
    if (this.queue.size > 0) this.sending ??= this.send()
  }

  private cancelTimer(): void {
    if (!this.timer) return
    clearTimeout(this.timer)
    this.timer = undefined
    this.scheduled = false
  }

  private async send(): Promise<void> {
    try {
      await this.dispatch(this.takeGroups())
    } finally {
      this.sending = undefined
      if (this.queue.size > 0) this.schedule()
    }
  }

  private sendFull(group: { key: string; acks: Array<PendingAck<T>> }): void {
    const sent: Promise<void> = this.dispatch([group]).finally(() => this.fullSends.delete(sent))
    this.fullSends.add(sent)
  }

  /** Sends `groups` in one call and settles each ack with its result; never rejects. */
  private async dispatch(groups: ReadonlyArray<{ key: string; acks: Array<PendingAck<T>> }>): Promise<void> {
    try {
      const results = await this.options.send(groups.map((g) => ({ key: g.key, items: g.acks.map((a) => a.item) })))
      for (const [i, g] of groups.entries()) settle(g.acks, results[i])
    } catch (err) {
      for (const g of groups) for (const a of g.acks) a.reject(err)
    }
  }

  private takeGroups(): Array<{ key: string; acks: Array<PendingAck<T>> }> {
    const max = this.maxGroupSize
    const groups: Array<{ key: string; acks: Array<PendingAck<T>> }> = []
    for (const [key, acks] of this.queue) {
      for (let i = 0; i < acks.length; i += Number.isFinite(max) ? max : acks.length) {
        groups.push({ key, acks: Number.isFinite(max) ? acks.slice(i, i + max) : acks })
      }
    }
    this.queue = new Map()
    return groups
  }
}

function settle<T>(acks: ReadonlyArray<PendingAck<T>>, result: AckGroupResult): void {
  if (result === undefined) for (const a of acks) a.resolve()
  else if ('error' in result) for (const a of acks) a.reject(result.error)
  else {
    for (const [i, a] of acks.entries()) {
      const error = result.itemErrors[i]
      if (error === undefined) a.resolve()
      else a.reject(error)
    }
  }
}
