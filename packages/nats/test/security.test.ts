// Issue 11, item 1: a forged `replyto` must never reach the wire. nats.js 2.x writes subjects to the
// socket unchecked, so before the fix a `replyto` holding CRLF + `PUB $JS.API.STREAM.DELETE.<stream>`
// made the consumer's own connection delete its event and dead-letter streams.
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { inspect } from 'node:util'
import {
  ConfigError,
  createBus,
  createBusFromEnv,
  type DeadLetter,
  defineEvent,
  type Envelope,
  newEventId,
  ValidationError,
} from '@tierbus/core'
import { eventually, freePort, quietPeriod } from '@tierbus/core/testing'
import { connect, type NatsConnection, type Subscription as NatsSubscription, headers as natsHeaders } from 'nats'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { DEAD_LETTER_HEADERS, type NatsTransport, natsTransport } from '../src/index.js'
import { isolatedTransport, NATS_URL } from './helpers.js'

const cleanups: Array<() => Promise<unknown>> = []
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!()
})

async function transport(): Promise<NatsTransport> {
  const t = await isolatedTransport()
  cleanups.push(() => t.close())
  return t
}

/** A plain nats.js client, as an attacker (or any non-tierbus producer) would hold. */
async function rawClient(): Promise<NatsConnection> {
  const nc = await connect({ servers: NATS_URL })
  cleanups.push(() => nc.close())
  return nc
}

/** Records every message on `subjects` so a test can assert that nothing arrived there. */
function watch(nc: NatsConnection, subjects: readonly string[]): { seen: string[]; subs: NatsSubscription[] } {
  const seen: string[] = []
  const subs = subjects.map((s) => nc.subscribe(s, { callback: (_err, msg) => void seen.push(msg.subject) }))
  return { seen, subs }
}

function forgedEvent(type: string, replyto: string): string {
  return JSON.stringify({
    specversion: '1.0',
    id: newEventId(),
    source: 'attacker',
    type,
    time: new Date().toISOString(),
    datacontenttype: 'application/json',
    data: { q: 'x' },
    replyto,
  })
}

describe('NATS: forged reply targets and subjects', () => {
  it('dead-letters a CloudEvent whose replyto smuggles a JetStream API command; streams survive and nothing is published', async () => {
    const t = await transport()
    const [eventStream, deadLetterStream] = [t.streams[0]!, t.streams[1]!]
    const Ask = defineEvent('orders.ask', z.object({ q: z.string() }), { reply: z.object({ ok: z.boolean() }) })
    const bus = createBus({ transport: t, source: 'security-test', closeTransport: false, onError: () => {} })
    cleanups.push(() => bus.close({ timeoutMs: 1_000 }))
    const handled: string[] = []
    // A request subscription whose handler returns a value: exactly what the attack needs.
    await bus.subscribe(
      Ask,
      (e) => {
        handled.push(e.id)
        return { ok: true }
      },
      { group: 'askers' },
    )

    const attacker = await rawClient()
    const observer = await rawClient()
    // Only this test's streams: other tests on the shared server delete theirs.
    const { seen, subs } = watch(observer, [
      ...t.streams.map((s) => `$JS.API.STREAM.DELETE.${s}`),
      `${t.subjects.inboxRoot}.>`,
      `${t.subjects.prefix}.stolen`,
    ])
    await observer.flush()

    const crlf = `_inbox.x\r\nPUB $JS.API.STREAM.DELETE.${eventStream} 0\r\n\r\n`
    const crlfDlq = `_inbox.x\r\nPUB $JS.API.STREAM.DELETE.${deadLetterStream} 0\r\n\r\n`
    const space = `_inbox.x ${t.subjects.prefix}.stolen`
    const subject = t.subjects.subjectFor(Ask.type)
    const js = attacker.jetstream()
    for (const replyto of [crlf, crlfDlq, space]) await js.publish(subject, forgedEvent(Ask.type, replyto))

    let dead: DeadLetter[] = []
    await eventually(
      async () => {
        dead = await t.deadLetters.list({ group: 'askers' })
        return dead.length === 3
      },
      () => `3 dead letters, got ${dead.length}`,
    )

    // The legitimate path still works on the same connection (a CRLF would have broken or hijacked it).
    expect(await bus.request(Ask, { q: 'real' }, { timeoutMs: 5_000 })).toEqual({ ok: true })
    await quietPeriod(200)
    for (const s of subs) s.unsubscribe()

    const jsm = await observer.jetstreamManager()
    await expect(jsm.streams.info(eventStream)).resolves.toMatchObject({ config: { name: eventStream } })
    await expect(jsm.streams.info(deadLetterStream)).resolves.toMatchObject({ config: { name: deadLetterStream } })
    // Only the legitimate reply travelled on an inbox subject; no stream delete, nothing on the smuggled reply subject.
    expect(seen.filter((s) => s.startsWith('$JS.API.STREAM.DELETE') || s.endsWith('.stolen'))).toEqual([])
    expect(seen.filter((s) => s.startsWith(t.subjects.inboxRoot))).toHaveLength(1)
    expect(handled).toHaveLength(1)
    for (const d of dead) {
      expect(d.envelope).toBeUndefined()
      expect(d.reason.kind).toBe('malformed')
      expect(d.reason.error).toContain('replyto')
    }
    expect(dead.map((d) => JSON.parse(d.raw!).replyto).sort()).toEqual([crlf, crlfDlq, space].sort())
  })

  it('dead-letters a CloudEvent whose type holds a space or CRLF, without running a pattern handler', async () => {
    const t = await transport()
    const bus = createBus({ transport: t, source: 'security-test', closeTransport: false, onError: () => {} })
    cleanups.push(() => bus.close({ timeoutMs: 1_000 }))
    const handled: string[] = []
    await bus.subscribe('orders.>', (e) => void handled.push(e.type), { group: 'audit' })
    const attacker = await rawClient()
    const raw = JSON.parse(forgedEvent('orders.ask\r\nPUB x 0', '_inbox.0123456789abcdef')) as Envelope
    await attacker.jetstream().publish(t.subjects.subjectFor('orders.ask'), JSON.stringify(raw))
    let dead: DeadLetter[] = []
    await eventually(async () => {
      dead = await t.deadLetters.list({ group: 'audit' })
      return dead.length === 1
    }, 'the forged event to be dead-lettered')
    expect(handled).toEqual([])
    expect(dead[0]!.reason.error).toContain('type')
  })

  it('publish rejects a type holding CRLF or a space with a ValidationError, and nothing reaches the server', async () => {
    const t = await transport()
    const observer = await rawClient()
    const { seen, subs } = watch(observer, [
      `${t.subjects.prefix}.>`,
      `${t.subjects.inboxRoot}.>`,
      `$JS.API.STREAM.DELETE.${t.streams[0]}`,
    ])
    await observer.flush()
    const base: Envelope = {
      specversion: '1.0',
      id: newEventId(),
      source: 'direct',
      type: 'orders.ask',
      time: new Date().toISOString(),
      data: {},
    }
    const bad: Array<Partial<Envelope>> = [
      { type: `orders.ask\r\nPUB $JS.API.STREAM.DELETE.${t.streams[0]} 0\r\n\r\n` },
      { type: 'orders.ask stolen' },
      { type: 'orders.ask\u0000' },
      { type: '_inbox.x\r\nPUB y 0' },
      { type: '_inbox.not-an-inbox' },
      { replyto: `_inbox.x\r\nPUB $JS.API.STREAM.DELETE.${t.streams[0]} 0\r\n\r\n` },
      { replyto: 'orders.other' },
    ]
    for (const override of bad) {
      const err = await t.publish([{ ...base, ...override }]).catch((e: unknown) => e)
      expect(err, JSON.stringify(override)).toBeInstanceOf(ValidationError)
    }
    // A bad envelope in a batch rejects the whole batch before anything is sent.
    const err = await t.publish([base, { ...base, id: newEventId(), type: 'orders.ask\nx' }]).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ValidationError)
    await observer.flush()
    await quietPeriod(200)
    for (const s of subs) s.unsubscribe()
    expect(seen).toEqual([])
    const jsm = await observer.jetstreamManager()
    expect((await jsm.streams.info(t.streams[0]!)).state.messages).toBe(0)
  })
})

describe('NATS: forged dead letters', () => {
  it('redrive ignores a dead letter whose stored headers name a foreign or injected subject', async () => {
    const t = await transport()
    const observer = await rawClient()
    const { seen, subs } = watch(observer, [
      ...t.streams.map((s) => `$JS.API.STREAM.DELETE.${s}`),
      `${t.subjects.prefix}.>`,
      `${t.subjects.inboxRoot}.>`,
    ])
    await observer.flush()
    const attacker = await rawClient()
    const body = forgedEvent('orders.ask', '_inbox.0123456789abcdef')
    // Header values cannot hold CR/LF (nats.js refuses them), but a space smuggles a reply subject.
    const forged: Array<[string, string]> = [
      [`$JS.API.STREAM.DELETE.${t.streams[0]}`, 'askers_0123456789ab'],
      [`${t.subjects.prefix}.orders.ask $JS.API.STREAM.DELETE.${t.streams[0]}`, 'askers_0123456789ab'],
      [`${t.subjects.inboxRoot}.0123456789abcdef`, 'askers_0123456789ab'],
      [`${t.subjects.prefix}.orders.ask`, 'askers x'],
    ]
    for (const [subject, durable] of forged) {
      const h = natsHeaders()
      h.set(DEAD_LETTER_HEADERS.subject, subject)
      h.set(DEAD_LETTER_HEADERS.durable, durable)
      h.set(DEAD_LETTER_HEADERS.group, 'askers')
      await attacker.jetstream().publish(t.subjects.deadLetterSubject('askers_0123456789ab'), body, { headers: h })
    }
    const listed = await t.deadLetters.list()
    expect(listed).toHaveLength(forged.length)
    expect(await t.deadLetters.redrive(listed.map((d) => d.id))).toBe(0)
    await observer.flush()
    await quietPeriod(200)
    for (const s of subs) s.unsubscribe()
    expect(seen, JSON.stringify(seen)).toEqual([])
    const jsm = await observer.jetstreamManager()
    for (const stream of t.streams)
      await expect(jsm.streams.info(stream)).resolves.toMatchObject({ config: { name: stream } })
  })
})

describe('NATS: no credentials in errors (issue 11, item 4)', () => {
  it('a server URL with credentials that cannot connect fails without the password, in the message, cause or log', async () => {
    const port = await freePort()
    const err = await natsTransport({
      url: `nats://alice:s3cret-pw@127.0.0.1:${port}`,
      prefix: 'tbsecret',
      connectTimeoutMs: 2_000,
    }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(Error)
    expect((err as Error).message).toContain('nats://alice:***@127.0.0.1')
    expect(inspect(err)).not.toContain('s3cret-pw')
    const token = await natsTransport({ url: `nats://s3cret-token@127.0.0.1:${port}`, prefix: 'tbsecret' }).catch(
      (e: unknown) => e,
    )
    expect(inspect(token)).not.toContain('s3cret-token')
  })

  it('a malformed NATS_URL is named, never echoed', async () => {
    for (const NATS_URL of ['nats://alice:s3cret-pw@127.0.0.1:4222 extra', 's3cret-pw-as-a-bare-value']) {
      const err = await createBusFromEnv({
        env: { TIERBUS_TRANSPORT: 'nats', NATS_URL },
        source: 'secrets-test',
      }).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(ConfigError)
      expect((err as Error).message).toContain('NATS_URL')
      expect((err as Error).message).not.toContain('s3cret-pw')
    }
  })
})

describe('NATS with accounts: an attacker allowed to publish on one subject only', () => {
  // A private nats-server (own port, own store dir) whose config grants the attacker exactly one subject,
  // as in the audit; killed by its own PID afterwards.
  let server: ChildProcess | undefined
  let dir = ''
  let url = ''
  const PREFIX = 'acct'
  beforeAll(async () => {
    const port = await freePort()
    dir = mkdtempSync(join(tmpdir(), 'tierbus-nats-acct-'))
    const config = join(dir, 'server.conf')
    writeFileSync(
      config,
      `listen: 127.0.0.1:${port}
jetstream { store_dir: "${join(dir, 'js')}" }
accounts {
  APP {
    jetstream: enabled
    users: [
      { user: app, password: app-pw }
      { user: attacker, password: attacker-pw, permissions: { publish: { allow: ["${PREFIX}.orders.ask"] }, subscribe: { deny: ">" } } }
    ]
  }
}
`,
    )
    server = spawn('/usr/sbin/nats-server', ['-c', config], { stdio: 'ignore' })
    url = `nats://127.0.0.1:${port}`
    await eventually(async () => {
      const nc = await connect({ servers: url, user: 'app', pass: 'app-pw', maxReconnectAttempts: 0 }).catch(
        () => undefined,
      )
      await nc?.close()
      return nc !== undefined
    }, 'the private nats-server to accept connections')
  }, 30_000)
  afterAll(() => {
    if (server?.pid) process.kill(server.pid, 'SIGTERM')
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  it('cannot make the consumer delete its streams through a forged replyto', async () => {
    const t = await natsTransport({
      url: url,
      connection: { user: 'app', pass: 'app-pw' },
      prefix: PREFIX,
      stream: 'ACCT_EVENTS',
      deleteStreamsOnClose: true,
    })
    cleanups.push(() => t.close())
    const Ask = defineEvent('orders.ask', z.object({ q: z.string() }), { reply: z.object({ ok: z.boolean() }) })
    const bus = createBus({ transport: t, source: 'accounts-test', closeTransport: false, onError: () => {} })
    cleanups.push(() => bus.close({ timeoutMs: 1_000 }))
    const handled: string[] = []
    await bus.subscribe(
      Ask,
      (e) => {
        handled.push(e.id)
        return { ok: true }
      },
      { group: 'askers' },
    )

    const attacker = await connect({ servers: url, user: 'attacker', pass: 'attacker-pw' })
    cleanups.push(() => attacker.close())
    const denied: string[] = []
    void (async () => {
      for await (const s of attacker.status()) if (s.type === 'error') denied.push(String(s.data))
    })()
    // The attacker cannot delete the stream itself: its account may publish on one subject only...
    attacker.publish(`$JS.API.STREAM.DELETE.${t.streams[0]}`, '')
    // ...so it asks the consumer to do it, through the reply target.
    for (const stream of t.streams) {
      attacker.publish(
        t.subjects.subjectFor(Ask.type),
        forgedEvent(Ask.type, `_inbox.x\r\nPUB $JS.API.STREAM.DELETE.${stream} 0\r\n\r\n`),
      )
    }
    attacker.publish(t.subjects.subjectFor(Ask.type), forgedEvent(Ask.type, `_inbox.x ${PREFIX}.stolen`))
    await attacker.flush()

    let dead: DeadLetter[] = []
    await eventually(
      async () => {
        dead = await t.deadLetters.list({ group: 'askers' })
        return dead.length === 3
      },
      () => `3 dead letters, got ${dead.length}`,
    )
    expect(await bus.request(Ask, { q: 'real' }, { timeoutMs: 5_000 })).toEqual({ ok: true })
    const jsm = await t.connection.jetstreamManager()
    for (const stream of t.streams)
      await expect(jsm.streams.info(stream)).resolves.toMatchObject({ config: { name: stream } })
    expect(handled).toHaveLength(1)
    expect(dead.every((d) => d.reason.kind === 'malformed' && d.reason.error.includes('replyto'))).toBe(true)
    expect(denied.join('\n')).toMatch(/permissions.violation/i)
  })
})
