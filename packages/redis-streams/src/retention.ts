import { unrefTimer } from '@tierbus/core/adapter'
import type { RedisStreamClient } from './client.js'
import { evalScript, TRIM_SCRIPT, trimScriptArgs } from './commands.js'
import type { ResolvedRedisStreamsOptions } from './options.js'
import type { RedisStreamsStats } from './stats.js'

/** Oldest entries one trim of one stream looks at (bounds the script's run time on a big backlog). */
const TRIM_BATCH = 10_000

/**
 * Applies the retention policy to the streams this transport wrote to: every `trimEveryMs`, one
 * `TRIM_SCRIPT` per stream written since the last run. Trimming after the fact instead of `XADD MAXLEN ~`
 * lets the cut stop at what a consumer group has not settled yet (the default), or count what it removed
 * unsettled (`trimUnread: true`). A stream may overshoot its limit by what one interval publishes.
 */
export class RetentionTrimmer {
  private readonly dirty = new Set<string>()
  private timer: NodeJS.Timeout | undefined
  /** The run in flight, if any. */
  private running: Promise<void> | undefined
  private closed = false

  constructor(
    private readonly client: RedisStreamClient,
    private readonly options: ResolvedRedisStreamsOptions,
    private readonly stats: RedisStreamsStats,
  ) {}

  /** `stream` was appended to: trim it at the next run. */
  noteWrite(stream: string): void {
    if (this.options.retention === false) return
    this.dirty.add(stream)
    if (!this.timer && !this.closed) {
      this.timer = setTimeout(() => void this.run(), this.options.trimEveryMs)
      unrefTimer(this.timer)
    }
  }

  /**
   * Trims what is pending now, after the run in flight (if its timer fired): close leaves nothing
   * untrimmed that this transport wrote, and never closes the connection under a trim it started.
   */
  async flush(): Promise<void> {
    while (this.running) await this.running
    clearTimeout(this.timer)
    this.timer = undefined
    await this.run()
  }

  /** Flushes, then schedules nothing more (the transport is closing its connections). */
  async close(): Promise<void> {
    this.closed = true
    await this.flush()
    clearTimeout(this.timer)
    this.timer = undefined
  }

  private run(): Promise<void> {
    this.timer = undefined
    const args = trimScriptArgs(this.options.retention, TRIM_BATCH)
    if (this.running || !args || this.dirty.size === 0) return this.running ?? Promise.resolve()
    const streams = [...this.dirty]
    this.dirty.clear()
    this.running = this.trim(streams, args).finally(() => {
      this.running = undefined
      if (this.dirty.size > 0 && !this.timer && !this.closed) this.noteWriteLater()
    })
    return this.running
  }

  private async trim(streams: readonly string[], args: NonNullable<ReturnType<typeof trimScriptArgs>>): Promise<void> {
    try {
      const replies = await this.client.pipeline(streams.map((s) => evalScript(TRIM_SCRIPT, [s], args)))
      // One reply per stream, in order (a pipeline).
      streams.forEach((stream, i) => {
        const reply = replies[i]
        if (reply instanceof Error || !Array.isArray(reply)) {
          this.options.onError(reply, { operation: `apply retention to ${stream}` })
          return
        }
        const [removed, unread, held] = reply.map(Number) as [number, number, number]
        this.stats.trimmed += removed || 0
        this.stats.trimmedUnread += unread || 0
        this.stats.trimsHeldForGroups += held || 0
        // Entries past the limit that a group still holds stay due for trimming.
        if (held || removed >= TRIM_BATCH) this.dirty.add(stream)
      })
    } catch (err) {
      for (const s of streams) this.dirty.add(s)
      this.options.onError(err, { operation: 'apply retention' })
    }
  }

  private noteWriteLater(): void {
    this.timer = setTimeout(() => void this.run(), this.options.trimEveryMs)
    unrefTimer(this.timer)
  }
}
