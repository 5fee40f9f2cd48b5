import type { DbDriver } from './driver.js'

interface PendingAck {
  readonly seq: number
  readonly attempt: number
  readonly resolve: () => void
  readonly reject: (err: unknown) => void
}

/**
 * Coalesces acks into one `ack` call per group: while one flush is in flight the next acks queue up
 * and go together, so an idle consumer acks at once and a busy one acks in batches (no timers).
 */
export class AckBuffer {
  private pending = new Map<number, PendingAck[]>()
  private flushing: Promise<void> | undefined

  constructor(private readonly driver: DbDriver) {}

  /** Resolves once the ack is stored. */
  ack(group: number, seq: number, attempt: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const list = this.pending.get(group)
      const entry = { seq, attempt, resolve, reject }
      if (list) list.push(entry)
      else this.pending.set(group, [entry])
      if (!this.flushing) this.flushing = this.flush()
    })
  }

  /** Waits until every queued ack has been sent. */
  async drain(): Promise<void> {
    while (this.flushing) await this.flushing
  }

  private async flush(): Promise<void> {
    // Let acks settled in the same tick join this flush.
    await Promise.resolve()
    try {
      while (this.pending.size > 0) {
        const batch = this.pending
        this.pending = new Map()
        await Promise.all(
          [...batch].map(async ([group, acks]) => {
            try {
              await this.driver.call('ack', [group, acks.map((a) => a.seq), acks.map((a) => a.attempt)])
              for (const a of acks) a.resolve()
            } catch (err) {
              for (const a of acks) a.reject(err)
            }
          }),
        )
      }
    } finally {
      this.flushing = undefined
    }
  }
}
