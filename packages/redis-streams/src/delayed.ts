import { isEventType } from '@tierbus/core'
import { unrefTimer } from '@tierbus/core/adapter'
import type { RedisCommand, RedisStreamClient } from './client.js'
import { evalScript, MOVE_DELAYED_SCRIPT } from './commands.js'
import type { RedisKeys } from './keys.js'
import type { ResolvedRedisStreamsOptions } from './options.js'
import type { RedisStreamsStats } from './stats.js'

const BATCH = 100

/**
 * Moves delayed events (`publish` with `delayMs`, kept in a sorted set scored by due time) to their
 * streams when due. Runs in every transport that has a subscription, one timer per transport; the
 * move is a script that removes the member first, so concurrent movers in other processes publish
 * each event once. It sleeps until the earliest due event, at most `delayedPollMs` (events delayed by
 * other processes are seen within that), and is woken early by this transport's own delayed publishes.
 */
export class DelayedMover {
  private timer: NodeJS.Timeout | undefined
  private nextAt = Number.POSITIVE_INFINITY
  private running = false
  private active = false

  constructor(
    private readonly client: RedisStreamClient,
    private readonly keys: RedisKeys,
    private readonly options: ResolvedRedisStreamsOptions,
    private readonly stats: RedisStreamsStats,
    /** Called for each stream an event was moved to (retention trims it later). */
    private readonly onWrite: (stream: string) => void,
  ) {}

  /** Starts moving (idempotent). */
  start(): void {
    if (this.active) return
    this.active = true
    this.schedule(Date.now())
  }

  /** An event this process delayed is due at `at`: look then, if that is earlier than planned. */
  noteDue(at: number): void {
    if (this.active && at < this.nextAt) this.schedule(at)
  }

  stop(): void {
    this.active = false
    clearTimeout(this.timer)
  }

  private schedule(at: number): void {
    clearTimeout(this.timer)
    this.nextAt = at
    this.timer = setTimeout(() => void this.run(), Math.max(0, at - Date.now()))
    unrefTimer(this.timer)
  }

  private async run(): Promise<void> {
    if (this.running || !this.active) return
    this.running = true
    this.nextAt = Number.POSITIVE_INFINITY
    let next = Date.now() + this.options.delayedPollMs
    try {
      for (;;) {
        const now = Date.now()
        const due = (await this.client.send([
          'ZRANGEBYSCORE',
          this.keys.delayed,
          '-inf',
          now,
          'LIMIT',
          0,
          BATCH,
        ])) as string[]
        if (due.length > 0) await this.move(due)
        if (due.length < BATCH) break
      }
      const first = (await this.client.send(['ZRANGE', this.keys.delayed, 0, 0, 'WITHSCORES'])) as string[]
      if (first.length >= 2) next = Math.min(next, Number(first[1]))
    } catch (err) {
      this.options.onError(err, { operation: 'move delayed events' })
    } finally {
      this.running = false
      if (this.active) this.schedule(Math.min(next, this.nextAt))
    }
  }

  private async move(members: readonly string[]): Promise<void> {
    const commands = members.map((member): RedisCommand => {
      let type = ''
      try {
        type = String((JSON.parse(member) as { type?: unknown }).type ?? '')
      } catch {
        // not written by tierbus: nowhere to route it
      }
      // The zset is input too: only a type in the event-type grammar becomes a stream key and a registered type.
      if (!isEventType(type)) {
        this.options.onError(
          new Error(`dropping an unroutable member of ${this.keys.delayed}: ${member.slice(0, 200)}`),
          { operation: 'move delayed event' },
        )
        return ['ZREM', this.keys.delayed, member]
      }
      this.onWrite(this.keys.stream(type))
      return evalScript(
        MOVE_DELAYED_SCRIPT,
        [this.keys.delayed, this.keys.stream(type), this.keys.types],
        [member, type],
      )
    })
    const replies = await this.client.pipeline(commands)
    for (const reply of replies) {
      if (reply instanceof Error) this.options.onError(reply, { operation: 'move delayed event' })
      else this.stats.delayedMoved += Number(reply) || 0
    }
  }
}
