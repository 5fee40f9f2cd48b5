import { type ChildProcess, spawn } from 'node:child_process'
import { ConfigError, createBus, defineEvent, TransportError } from '@tierbus/core'
import { eventually, freePort, uniqueToken } from '@tierbus/core/testing'
import { connect } from 'nats'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { z } from 'zod'
import {
  JetStreamNotEnabledError,
  misterSmithStreams,
  type NatsTransport,
  natsTransport,
  StreamSubjectsOverlapError,
} from '../src/index.js'
import { isolatedTransport, NATS_URL } from './helpers.js'

const opened: NatsTransport[] = []
afterEach(async () => {
  while (opened.length) await opened.pop()!.close()
})
async function open(t: Promise<NatsTransport>): Promise<NatsTransport> {
  const transport = await t
  opened.push(transport)
  return transport
}

describe('NATS streams', () => {
  let plain: ChildProcess | undefined
  afterAll(() => {
    if (plain?.pid) process.kill(plain.pid, 'SIGTERM')
  })

  it('fails with a JetStreamNotEnabledError saying to start nats-server with -js when JetStream is off', async () => {
    const port = await freePort()
    // A real second server, started without -js.
    plain = spawn('nats-server', ['-a', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' })
    await eventually(async () => {
      const nc = await connect({ servers: `127.0.0.1:${port}`, maxReconnectAttempts: 0 }).catch(() => undefined)
      await nc?.close()
      return nc !== undefined
    }, 'the plain nats-server to accept connections')
    const err = await natsTransport({ url: `nats://127.0.0.1:${port}`, prefix: uniqueToken('tb') }).catch(
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(JetStreamNotEnabledError)
    expect(err).toBeInstanceOf(ConfigError)
    expect((err as Error).message).toContain('-js')
  })

  it('fails with a TransportError naming the server when nothing listens there', async () => {
    const port = await freePort()
    const err = await natsTransport({
      url: `nats://127.0.0.1:${port}`,
      maxReconnectAttempts: 0,
      connectTimeoutMs: 1000,
    }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(TransportError)
    expect((err as Error).message).toContain(`127.0.0.1:${port}`)
  })

  it("fails with a StreamSubjectsOverlapError naming the existing stream when subjects overlap another stream's", async () => {
    const first = await open(isolatedTransport())
    const err = await natsTransport({
      url: NATS_URL,
      prefix: first.subjects.prefix,
      stream: uniqueToken('OTHER'),
    }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(StreamSubjectsOverlapError)
    expect((err as StreamSubjectsOverlapError).existing).toBe(first.streams[0])
    expect((err as Error).message).toContain(first.streams[0]!)
  })

  it('rejects stream families that overlap each other before touching the server', async () => {
    const err = await natsTransport({
      url: NATS_URL,
      prefix: uniqueToken('tb'),
      streams: [
        { name: uniqueToken('A'), types: ['work.>'] },
        { name: uniqueToken('B'), types: ['work.nlp.*'] },
      ],
    }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(StreamSubjectsOverlapError)
  })

  it('rejects an invalid prefix or stream name with a ConfigError', async () => {
    await expect(natsTransport({ url: NATS_URL, prefix: 'bad.>' })).rejects.toThrow(ConfigError)
    await expect(natsTransport({ url: NATS_URL, stream: 'has.dot' })).rejects.toThrow(/stream name/)
  })

  it('creates the default stream with the configured max age and a dead-letter stream', async () => {
    const t = await open(isolatedTransport({ maxAgeMs: 3_600_000 }))
    const jsm = await t.connection.jetstreamManager()
    const info = await jsm.streams.info(t.streams[0]!)
    expect(info.config.subjects).toEqual([`${t.subjects.prefix}.>`])
    expect(info.config.max_age).toBe(3_600_000 * 1e6)
    const dlq = await jsm.streams.info(t.streams[1]!)
    expect(dlq.config.subjects).toEqual([`${t.subjects.prefix}_dlq.>`])
  })

  it("keeps seed 000's durability per family: coord transient (memory, 1 h), agent 24 h, work 7 days", async () => {
    const names = uniqueToken('MS').toUpperCase()
    const t = await open(isolatedTransport({ streams: misterSmithStreams(names) }))
    const jsm = await t.connection.jetstreamManager()
    const coord = await jsm.streams.info(`${names}_COORD`)
    expect(coord.config.storage).toBe('memory')
    expect(coord.config.max_age).toBe(3_600_000 * 1e6)
    expect((await jsm.streams.info(`${names}_AGENT`)).config.max_age).toBe(86_400_000 * 1e6)
    expect((await jsm.streams.info(`${names}_WORK`)).config.max_age).toBe(7 * 86_400_000 * 1e6)
    expect(t.streams).toContain(`${names}_WORK`)
  })

  it('routes each family to its stream, and refuses types and patterns no stream holds', async () => {
    const names = uniqueToken('MS').toUpperCase()
    const t = await open(isolatedTransport({ streams: misterSmithStreams(names) }))
    const bus = createBus({ transport: t, source: 'test', closeTransport: false })
    const Task = defineEvent('work.nlp.high.sentiment', z.object({ n: z.number() }))
    const Stray = defineEvent('billing.invoice.paid', z.object({}))
    await bus.publish(Task, { n: 1 })
    const jsm = await t.connection.jetstreamManager()
    expect((await jsm.streams.info(`${names}_WORK`)).state.messages).toBe(1)
    expect((await jsm.streams.info(`${names}_AGENT`)).state.messages).toBe(0)
    await expect(bus.publish(Stray, {})).rejects.toThrow(/no JetStream stream holds event type 'billing.invoice.paid'/)
    await expect(bus.subscribe('>', () => {})).rejects.toThrow(/no JetStream stream holds every event matching '>'/)
    await bus.close()
  })

  it('recreates nothing when a second transport opens the same prefix and stream (idempotent startup)', async () => {
    const t = await open(isolatedTransport())
    const again = await open(
      natsTransport({ url: NATS_URL, prefix: t.subjects.prefix, stream: t.streams[0]!, maxAgeMs: 600_000 }),
    )
    expect(again.streams).toEqual(t.streams)
  })
})
