/** An event as every connection of a stream shares it: its id and its SSE frame, encoded once. */
export interface StreamedEvent<E> {
  readonly id: string
  readonly event: E
  readonly frame: Uint8Array
}

/**
 * The last `capacity` events a stream received, oldest first: what a reconnecting browser resumes from.
 * Fixed memory: a full ring overwrites its oldest entry.
 */
export class EventRing<E> {
  private readonly slots: Array<StreamedEvent<E> | undefined>
  private next = 0
  private size = 0

  constructor(readonly capacity: number) {
    this.slots = new Array<StreamedEvent<E> | undefined>(capacity)
  }

  push(entry: StreamedEvent<E>): void {
    if (this.capacity === 0) return
    this.slots[this.next] = entry
    this.next = (this.next + 1) % this.capacity
    this.size = Math.min(this.size + 1, this.capacity)
  }

  /** The id of the newest event held, if any. */
  newestId(): string | undefined {
    return this.size === 0 ? undefined : this.slots[(this.next - 1 + this.capacity) % this.capacity]?.id
  }

  /** The events after the one with `id`, oldest first; undefined when `id` is not (or no longer) held. */
  after(id: string): Array<StreamedEvent<E>> | undefined {
    const newerFirst: Array<StreamedEvent<E>> = []
    for (let back = 1; back <= this.size; back++) {
      const entry = this.slots[(this.next - back + this.capacity) % this.capacity]
      if (entry === undefined) break
      if (entry.id === id) return newerFirst.reverse()
      newerFirst.push(entry)
    }
    return undefined
  }
}
