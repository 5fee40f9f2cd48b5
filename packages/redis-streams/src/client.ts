import type { ConnectionState } from '@tierbus/core/adapter'

/** One Redis command as sent on the wire: name, then arguments. */
export type RedisCommand = readonly [string, ...(string | number)[]]

/**
 * The few things the transport needs from a Redis connection. Implemented over ioredis (TCP, with
 * blocking reads) and @upstash/redis (HTTP REST, polled); replies are RESP2-shaped (strings, numbers,
 * nulls, nested arrays).
 */
export interface RedisStreamClient {
  /** `tcp` clients block on reads; `http` clients poll. */
  readonly protocol: 'tcp' | 'http'
  /** Runs one command; rejects with the server's error. */
  send(command: RedisCommand): Promise<unknown>
  /** Runs commands in one round trip; each slot holds the reply, or the `Error` that command failed with. */
  pipeline(commands: readonly RedisCommand[]): Promise<unknown[]>
  /** Opens a connection of its own for blocking reads (tcp only; one per subscription). */
  openReader?(): Promise<BlockingReader>
  /** Subscribes to a pub/sub channel on a connection of its own (tcp only); returns the unsubscribe. */
  listen?(channel: string, onMessage: (message: string) => void): Promise<() => Promise<void>>
  /** Releases the connections the transport opened (never a client the caller passed in). */
  close(): Promise<void>
  /** Reports the connection's state changes to `state` from now on (a client without it is taken as always up). */
  watchConnection?(state: ConnectionState): void
}

/** A dedicated connection for `XREADGROUP ... BLOCK`. */
export interface BlockingReader {
  /** Runs a (possibly blocking) read on this connection. */
  send(command: RedisCommand): Promise<unknown>
  /** Ends a blocking read in progress early (it returns no entries); a no-op when none is. */
  interrupt(): void
  close(): Promise<void>
}

/** True for the reply error Redis sends when a consumer group or its stream is missing. */
export function isNoGroupError(err: unknown): boolean {
  return err instanceof Error && /NOGROUP/.test(err.message)
}

/** True for the reply error of `XGROUP CREATE` on a group that exists. */
export function isBusyGroupError(err: unknown): boolean {
  return err instanceof Error && /BUSYGROUP/.test(err.message)
}
