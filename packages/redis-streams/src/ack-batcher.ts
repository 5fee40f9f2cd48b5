import type { RedisStreamClient } from './client.js'
import { xack } from './commands.js'

interface PendingAcks {
  readonly stream: string
  readonly group: string
  readonly ids: string[]
  readonly done: Promise<void>
  resolve(): void
  reject(err: unknown): void
}

/**
 * Coalesces XACKs: acks made while the previous flush is in flight are sent together, one XACK per
 * (stream, group) in one pipeline. Under load a round trip acks hundreds of entries; alone, an ack
 * waits one event-loop turn.
 */
export class AckBatcher {
  private queue = new Map<string, PendingAcks>()
  private flushing: Promise<void> | undefined
  private scheduled = false

  constructor(private readonly client: RedisStreamClient) {}

  /** Acks one entry; resolves once Redis has acknowledged it. */
  ack(stream: string, group: string, id: string): Promise<void> {
    const key = `${stream}\u0000${group}`
    let pending = this.queue.get(key)
    if (!pending) {
      let resolve!: () => void
      let reject!: (err: unknown) => void
      const done = new Promise<void>((res, rej) => {
        resolve = res
        reject = rej
      })
      pending = { stream, group, ids: [], done, resolve, reject }
      this.queue.set(key, pending)
    }
    pending.ids.push(id)
    this.schedule()
    return pending.done
  }

  /** Waits until every queued ack was sent. */
  async drain(): Promise<void> {
    while (this.flushing || this.queue.size > 0) {
      if (!this.flushing) this.flushing = this.flush()
      await this.flushing.catch(() => {})
    }
  }

  private schedule(): void {
    if (this.scheduled || this.flushing) return
    this.scheduled = true
    setImmediate(() => {
      this.scheduled = false
      if (!this.flushing) this.flushing = this.flush()
    })
  }

  private async flush(): Promise<void> {
    const batch = [...this.queue.values()]
    this.queue = new Map()
    try {
      const replies = await this.client.pipeline(batch.map((p) => xack(p.stream, p.group, p.ids)))
      batch.forEach((p, i) => (replies[i] instanceof Error ? p.reject(replies[i]) : p.resolve()))
    } catch (err) {
      for (const p of batch) p.reject(err)
    } finally {
      this.flushing = undefined
      if (this.queue.size > 0) this.schedule()
    }
  }
}
