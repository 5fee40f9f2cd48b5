import type { JetStreamManager } from 'nats'

/** One group's consumer being watched, and how far its losses are counted. */
interface Watched {
  readonly stream: string
  readonly durable: string
  /** Stream sequences up to here are accounted for (removed before the watch began, or counted). */
  countedUpTo: number | undefined
  /**
   * The group's ack floor at the previous check. The server moves the floor over a pending message the
   * stream removed, so the floor from before the removal says what the group had really acked.
   */
  ackFloor: number
}

/**
 * JetStream's `limits` streams remove messages by age (`max_age`) and size (`max_bytes`) whether or
 * not a group has consumed them. This watch surfaces it: every `intervalMs` it compares each watched
 * group's ack floor with its stream's first sequence; sequences the stream dropped before the group
 * acked them are counted as `trimmedUnread`. It is an upper bound: on a stream holding several types a
 * gap may hold other types' messages, and a message acked and removed within one interval counts too.
 */
export class RetentionWatch {
  private readonly watched = new Map<string, Watched>()
  private timer: NodeJS.Timeout | undefined
  private total = 0

  constructor(
    private readonly jsm: () => JetStreamManager,
    private readonly intervalMs: number,
    private readonly onError: (err: unknown) => void,
  ) {}

  /** Messages removed before a watched group settled them, since the transport started. */
  get trimmedUnread(): number {
    return this.total
  }

  /** Starts watching a group's durable consumer. */
  watch(stream: string, durable: string): void {
    const key = `${stream}/${durable}`
    if (this.watched.has(key)) return
    this.watched.set(key, { stream, durable, countedUpTo: undefined, ackFloor: 0 })
    if (!this.timer) {
      this.timer = setInterval(() => void this.check(), this.intervalMs)
      this.timer.unref()
    }
    void this.check()
  }

  /** Stops watching it. */
  unwatch(stream: string, durable: string): void {
    this.watched.delete(`${stream}/${durable}`)
    if (this.watched.size === 0) this.stop()
  }

  stop(): void {
    clearInterval(this.timer)
    this.timer = undefined
  }

  private checking = false

  private async check(): Promise<void> {
    // One check at a time: a slow server must not let two interleave and count a gap twice.
    if (this.checking) return
    this.checking = true
    try {
      await this.checkOnce()
    } finally {
      this.checking = false
    }
  }

  private async checkOnce(): Promise<void> {
    // Every ack floor is read before the stream's first sequence. The server moves a floor over pending
    // messages the stream removes, so a floor read after a removal would hide it; read before, any gap
    // between the floor and the first sequence was removed unacked (or acked in between: the upper bound).
    const floors: Array<[Watched, number]> = []
    for (const w of [...this.watched.values()]) {
      try {
        floors.push([w, (await this.jsm().consumers.info(w.stream, w.durable)).ack_floor.stream_seq])
      } catch (err) {
        this.onError(err)
      }
    }
    const firstSeqs = new Map<string, number>()
    for (const [w, ackFloor] of floors) {
      try {
        let first = firstSeqs.get(w.stream)
        if (first === undefined) {
          first = (await this.jsm().streams.info(w.stream)).state.first_seq
          firstSeqs.set(w.stream, first)
        }
        const removedUpTo = first - 1
        if (w.countedUpTo === undefined) {
          // What the stream dropped before the watch began is not this run's to count.
          w.countedUpTo = Math.max(0, removedUpTo)
          w.ackFloor = ackFloor
          continue
        }
        const from = Math.max(w.ackFloor, w.countedUpTo)
        if (removedUpTo > from) this.total += removedUpTo - from
        w.countedUpTo = Math.max(w.countedUpTo, removedUpTo)
        w.ackFloor = ackFloor
      } catch (err) {
        this.onError(err)
      }
    }
  }
}
