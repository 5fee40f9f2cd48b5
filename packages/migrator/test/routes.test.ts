import { readFileSync } from 'node:fs'
import { ConfigError, parseRoutes } from '@tierbus/core'
import { type ClassLoad, chooseTier, kindOf, parseProfile, planCapacity, recommendRoutes } from '@tierbus/migrator'
import { describe, expect, it } from 'vitest'

const mistersmith = planCapacity(
  parseProfile(readFileSync(new URL('../profiles/mistersmith.yaml', import.meta.url), 'utf8')),
)

const load = (over: Partial<ClassLoad> & { name: string }): ClassLoad => ({
  subjects: [`${over.name}.>`],
  kind: 'broadcast',
  persistent: true,
  latencyMs: 1000,
  peakPerSecond: 100,
  messagesPerMonth: 1e6,
  bytesPerSecond: 1000,
  peakBytesPerSecond: 5000,
  ...over,
})

describe('route planner', () => {
  it("recommends seed 000's hybrid for MisterSmith: coordination and health on amqp, discovery and tasks on sqs, metrics on nats", () => {
    const { routes, env, shares } = mistersmith.routes
    expect(env).toBe('coord.>=amqp;agent.>=sqs;work.>=sqs;health.>=amqp;metrics.>=nats;>=sqs')
    expect(routes.map((r) => [r.class, r.transport])).toEqual([
      ['coordination', 'amqp'],
      ['discovery', 'sqs'],
      ['tasks', 'sqs'],
      ['health_pings', 'amqp'],
      ['metrics', 'nats'],
      [null, 'sqs'],
    ])
    // The seed's split: ~20 % real-time, ~70 % async, ~10 % high-throughput.
    expect(shares.amqp).toBeCloseTo(0.173, 3)
    expect(shares.sqs).toBeCloseTo(0.679, 3)
    expect(shares.nats).toBeCloseTo(0.148, 3)
  })

  it('says why each route goes where it goes, and what MSK maps to', () => {
    const reason = (cls: string | null) => mistersmith.routes.routes.find((r) => r.class === cls)!.reason
    expect(reason('coordination')).toMatch(
      /real-time broadcast \(needs 50 ms; SQS takes 100-500 ms\), 417\/s at peak -> amqp: Amazon MQ/,
    )
    expect(reason('tasks')).toMatch(/async queue, persistent \(tolerates 1,000 ms\), 2,083\/s at peak -> sqs/)
    expect(reason('metrics')).toMatch(
      /^metrics: high-volume transient stream \(the MisterSmith plan puts it on MSK; tierbus has no Kafka tier, and NATS JetStream, a replicated log with replay, is the nearest\), 500\/s at peak -> nats: NATS JetStream, 1-10 ms$/,
    )
    expect(reason(null)).toBe(
      'catch-all: events no class names go where most of the workload goes (sqs, 68 % of messages)',
    )
  })

  it('falls back along the preferences when latency, peak or durability rule a tier out', () => {
    // A work queue that needs 50 ms cannot wait for SQS.
    expect(chooseTier(load({ name: 'urgent', kind: 'queue', latencyMs: 50 }))).toMatchObject({ tier: 'amqp' })
    expect(chooseTier(load({ name: 'urgent', kind: 'queue', latencyMs: 50 })).reason).toMatch(
      /^urgent: real-time queue \(needs 50 ms; SQS takes 100-500 ms\)/,
    )
    // Real-time beyond the largest Amazon MQ broker goes to NATS, and the reason says what was skipped.
    expect(chooseTier(load({ name: 'ticks', latencyMs: 60, peakPerSecond: 80_000 }))).toMatchObject({
      tier: 'nats',
      reason: expect.stringMatching(/-> nats: .*; skipped amqp carries ~50,000\/s$/),
    })
    // A stream that needs 10 ms fits only NATS; one that NATS cannot carry fits nothing.
    expect(chooseTier(load({ name: 'm', kind: 'stream', latencyMs: 10 })).tier).toBe('nats')
    expect(() => chooseTier(load({ name: 'm', kind: 'stream', latencyMs: 10, peakPerSecond: 2e6 }))).toThrow(
      /m: no tier carries it .*relax its latency_ms/,
    )
  })

  it('puts more specific subjects first and refuses subjects that hide another class on another tier', () => {
    const plan = recommendRoutes([
      load({ name: 'agents', subjects: ['agent.>'] }),
      load({ name: 'status', subjects: ['agent.status.>'], latencyMs: 50 }),
    ])
    expect(plan.env).toBe('agent.status.>=amqp;agent.>=sqs;>=sqs')
    expect(() =>
      recommendRoutes([load({ name: 'a', subjects: ['x.>'] }), load({ name: 'b', subjects: ['x.>'], latencyMs: 50 })]),
    ).toThrow(ConfigError)
    expect(() =>
      recommendRoutes([
        load({ name: 'a', subjects: ['x.*.y'] }),
        load({ name: 'b', subjects: ['x.*.y'], latencyMs: 50 }),
      ]),
    ).toThrow(/hide "x\.\*\.y" \(b, amqp\)/)
    // Same tier: the overlap is harmless.
    expect(recommendRoutes([load({ name: 'a', subjects: ['x.>'] }), load({ name: 'b', subjects: ['x.y'] })]).env).toBe(
      'x.y=sqs;x.>=sqs;>=sqs',
    )
  })

  it('prints the table in the TIERBUS_ROUTES form core parses, one entry per route, in order', () => {
    const { routes, env } = mistersmith.routes
    expect(parseRoutes(env)).toEqual(routes.map((r) => ({ match: r.match, tier: r.transport })))
    // Two classes naming the same subjects on one tier: one route, not a second one that could never match.
    const twice = recommendRoutes([load({ name: 'a', subjects: ['x.>'] }), load({ name: 'b', subjects: ['x.>'] })])
    expect(twice.env).toBe('x.>=sqs;>=sqs')
  })

  it('reads kind, latency and subjects from the profile, with defaults', () => {
    const p = parseProfile(
      'agents: 2\nmessage_types:\n  jobs:\n    frequency: 1 per minute per agent\n    size: 1 KB\n    pattern: queue with acknowledgment\n' +
        '  pings:\n    frequency: 1 per minute per agent\n    size: 1 KB\n    durability: transient\n    latency_ms: 20\n    subjects: [ping.a.>, ping.b.>]\n',
    )
    expect(p.messageTypes.map((t) => [t.name, t.kind, t.persistent, t.latencyMs, t.subjects])).toEqual([
      ['jobs', 'queue', true, 1000, ['jobs.>']],
      ['pings', 'broadcast', false, 20, ['ping.a.>', 'ping.b.>']],
    ])
    expect(p.connections).toBe(2)
    expect([
      kindOf('pub/sub with aggregation'),
      kindOf('queue with acknowledgment'),
      kindOf('pub/sub'),
      kindOf(undefined),
    ]).toEqual(['stream', 'queue', 'broadcast', 'broadcast'])
    const bad = (subjects: string) => () =>
      parseProfile(
        `agents: 1\nmessage_types:\n  a:\n    frequency: 1 per minute per agent\n    size: 1 KB\n    subjects: "${subjects}"\n`,
      )
    expect(bad('>')).toThrow(
      /message_types\.a\.subjects: '>' matches every event; give the class its own prefix such as "a\.>"/,
    )
    expect(bad('a.>.b')).toThrow(ConfigError)
  })
})
