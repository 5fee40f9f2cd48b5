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
  /**
   * True when `send` never answers `{ itemErrors }` (a group succeeds or fails as a whole, as one XACK or
   * one SQL statement does): the acks of one group then share one promise, one allocation and one
   * settlement per round trip instead of per ack. An `{ itemErrors }` answer with an error in it then
   * rejects the whole group with its first error. Default false: each ack gets its own promise.
   */
  readonly sharedResults?: boolean
}

/** One ack's own promise settlers (a tier that reports per-item errors). */
interface Waiter {
  readonly resolve: () => void
  readonly reject: (err: unknown) => void
}

/** The acks queued under one key: their items and who waits for them. */
interface Queued<T> {
  readonly items: T[]
  /** Per item, in `items`' order; undefined when the acks share `shared` (`sharedResults`). */
  readonly waiters: Waiter[] | undefined
  /** The one promise every ack of this group returns (`sharedResults`), with its settlers. */
  readonly shared: (Waiter & { readonly promise: Promise<void> }) | undefined
}

let capturedResolve: () => void = noop
let capturedReject: (err: unknown) => void = noop
function capture(resolve: () => void, reject: (err: unknown) => void): void {
  capturedResolve = resolve
  capturedReject = reject
}
function noop(): void {}

/** A promise and its settlers, made with the shared executor (no closure per call). */
function deferred(): Waiter & { readonly promise: Promise<void> } {
  const promise = new Promise<void>(capture)
  const d = { promise, resolve: capturedResolve, reject: capturedReject }
  capturedResolve = capturedReject = noop
  return d
}

/**
 * Coalesces acks: acks made while a send is in flight go together in the next one, grouped by key, so
 * under load one round trip acks hundreds of messages; alone, an ack waits one turn (or `windowMs`).
 * A key that fills `maxGroupSize` goes at once (see there). Each `ack` resolves once its own item was
 * acknowledged, and rejects with its own error (with `sharedResults`, its group's).
 */
export class AckCoalescer<T> {
  private queue = new Map<string, Queued<T>>()
  private sending: Promise<void> | undefined
  /** Full groups sent at once, beside `sending`; not capped, as a round's groups are not (they go in parallel too). */
  private readonly fullSends = new Set<Promise<void>>()
  private timer: NodeJS.Timeout | undefined
  private scheduled = false
  private readonly maxGroupSize: number
  private readonly sharedResults: boolean

  constructor(private readonly options: AckCoalescerOptions<T>) {
    this.maxGroupSize = options.maxGroupSize ?? Number.POSITIVE_INFINITY
    this.sharedResults = options.sharedResults ?? false
  }

  /**
   * Queues one ack under `key`; resolves once the backend acknowledged it. With `sharedResults` the
   * acks of one group return the same promise.
   */
  ack(key: string, item: T): Promise<void> {
    let queued = this.queue.get(key)
    if (!queued) {
      queued = this.sharedResults
        ? { items: [], waiters: undefined, shared: deferred() }
        : { items: [], waiters: [], shared: undefined }
      this.queue.set(key, queued)
    }
    queued.items.push(item)
    let promise: Promise<void>
    if (queued.shared) promise = queued.shared.promise
    else {
      // A shared executor instead of a closure per ack (one context and one function fewer on every
      // delivery's path): it only hands the resolving functions over, synchronously, inside `new Promise`.
      promise = new Promise<void>(capture)
      queued.waiters?.push({ resolve: capturedResolve, reject: capturedReject })
      capturedResolve = capturedReject = noop
    }
    if (queued.items.length >= this.maxGroupSize) {
      this.queue.delete(key)
      this.sendFull(key, queued)
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
      const { keys, groups } = this.takeGroups()
      await this.dispatch(keys, groups)
    } finally {
      this.sending = undefined
      if (this.queue.size > 0) this.schedule()
    }
  }

  private sendFull(key: string, queued: Queued<T>): void {
    const sent: Promise<void> = this.dispatch([key], [queued]).finally(() => this.fullSends.delete(sent))
    this.fullSends.add(sent)
  }

  /** Sends the groups in one call and settles each ack with its group's result; never rejects. */
  private async dispatch(keys: readonly string[], groups: ReadonlyArray<Queued<T>>): Promise<void> {
    let results: ReadonlyArray<AckGroupResult>
    try {
      results = await this.options.send(groups.map((g, i) => ({ key: keys[i] as string, items: g.items })))
    } catch (err) {
      for (const g of groups) settle(g, { error: err })
      return
    }
    for (const [i, g] of groups.entries()) settle(g, results[i])
  }

  /**
   * Takes everything queued. A key's queue is shorter than `maxGroupSize` (a full one is sent at once,
   * see ack), so each is one group.
   */
  private takeGroups(): { keys: string[]; groups: Array<Queued<T>> } {
    const taken = { keys: [...this.queue.keys()], groups: [...this.queue.values()] }
    this.queue = new Map()
    return taken
  }
}

/** Settles the acks of one group with its result. */
function settle<T>(queued: Queued<T>, result: AckGroupResult): void {
  const { shared, waiters } = queued
  if (shared) {
    if (result === undefined) shared.resolve()
    else if ('error' in result) shared.reject(result.error)
    else {
      const failed = result.itemErrors.find((e) => e !== undefined)
      if (failed === undefined) shared.resolve()
      else shared.reject(failed)
    }
    return
  }
  if (!waiters) return
  if (result === undefined) for (const w of waiters) w.resolve()
  else if ('error' in result) for (const w of waiters) w.reject(result.error)
  else {
    for (const [i, w] of waiters.entries()) {
      const error = result.itemErrors[i]
      if (error === undefined) w.resolve()
      else w.reject(error)
    }
  }
}
