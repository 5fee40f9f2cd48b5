import { ConfigError, type Envelope } from '@tierbus/core'
import { describe, expect, it } from 'vitest'
import {
  chunkEntries,
  describeInfrastructure,
  filterPolicyFor,
  MAX_ENVELOPE_BYTES,
  queueNames,
  topicName,
} from '../src/index.js'
import { sourceOfDlq } from '../src/names.js'
import { publishEntry } from '../src/publisher.js'

const envelope = (n: number, pad = ''): Envelope => ({
  specversion: '1.0',
  id: `0190a0a0-0000-7000-8000-${String(n).padStart(12, '0')}`,
  source: 'test',
  type: 'feedback.created',
  time: new Date(0).toISOString(),
  datacontenttype: 'application/json',
  data: { n, pad },
})

describe('SQS/SNS names', () => {
  it('derives a topic per namespace and deterministic queue names within the 80-character limit', () => {
    expect(topicName('tierbus', false)).toBe('tierbus-events')
    expect(topicName('tierbus', true)).toBe('tierbus-events.fifo')
    const long = queueNames('p'.repeat(40), 'g'.repeat(100), 'work.nlp.>', true)
    expect(long.queue.length).toBeLessThanOrEqual(80)
    expect(long.dlq.length).toBeLessThanOrEqual(80)
    expect(long.queue.endsWith('.fifo')).toBe(true)
    expect(long.dlq.endsWith('-dlq.fifo')).toBe(true)
    expect(queueNames('tb', 'g', 'a.b', false)).toEqual(queueNames('tb', 'g', 'a.b', false))
    expect(sourceOfDlq(long.dlq)).toBe(long.queue)
  })

  it('never gives two (group, pattern) pairs the same queue, even when their readable parts collide', () => {
    const a = queueNames('tb', 'g', 'a.*', false)
    const b = queueNames('tb', 'g', 'a.any', false)
    const c = queueNames('tb', 'g:x', 'a', false)
    const d = queueNames('tb', 'g_x', 'a', false)
    expect(new Set([a.queue, b.queue, c.queue, d.queue]).size).toBe(4)
    expect(queueNames('tb', 'g', 'a.*', false).queue).toMatch(/^[A-Za-z0-9_-]+$/)
  })

  it('rejects an invalid namespace prefix with a ConfigError naming the option and env var', () => {
    expect(() => topicName('bad prefix!', false)).toThrow(ConfigError)
    expect(() => topicName('x'.repeat(41), false)).toThrow(/TIERBUS_SQS_PREFIX/)
  })
})

describe('SNS filter policies', () => {
  it('matches literal patterns exactly and wildcards by their literal prefix', () => {
    expect(filterPolicyFor('feedback.created')).toEqual({ policy: { type: ['feedback.created'] }, exact: true })
    expect(filterPolicyFor('agent.*.heartbeat')).toEqual({ policy: { type: [{ prefix: 'agent.' }] }, exact: false })
    expect(filterPolicyFor('work.nlp.>')).toEqual({ policy: { type: [{ prefix: 'work.nlp.' }] }, exact: false })
    expect(filterPolicyFor('*.created')).toEqual({ policy: undefined, exact: false })
  })
})

describe('describeInfrastructure', () => {
  it('lists the topic, queues, DLQs, redrive, filter policies, queue policy and IAM statements', () => {
    const d = describeInfrastructure(
      [
        { group: 'sentiment', pattern: 'feedback.created', maxAttempts: 3, leaseMs: 45_500 },
        { group: 'monitor', pattern: 'agent.*.heartbeat' },
      ],
      { prefix: 'sl', region: 'eu-west-1', accountId: '123456789012' },
    )
    expect(d.topic).toMatchObject({ name: 'sl-events', arn: 'arn:aws:sns:eu-west-1:123456789012:sl-events' })
    const [q1, q2] = d.queues
    expect(q1!.maxReceiveCount).toBe(5)
    expect(q1!.queueAttributes.VisibilityTimeout).toBe('46')
    expect(JSON.parse(q1!.queueAttributes.RedrivePolicy!)).toEqual({
      deadLetterTargetArn: q1!.dlqArn,
      maxReceiveCount: 5,
    })
    expect(JSON.parse(q1!.queueAttributes.Policy!).Statement[0].Condition.ArnEquals['aws:SourceArn']).toBe(d.topic.arn)
    expect(q1!.subscriptionAttributes).toEqual({
      RawMessageDelivery: 'true',
      FilterPolicy: '{"type":["feedback.created"]}',
      FilterPolicyScope: 'MessageAttributes',
    })
    expect(q2!.maxReceiveCount).toBe(7)
    expect(d.iam.publisher[0]!.Action).toEqual(['sns:Publish'])
    expect(d.iam.consumer.flatMap((s) => s.Action)).toContain('sqs:ChangeMessageVisibility')
    expect(d.text).toContain('RawMessageDelivery=true')
    expect(d.text).toContain('acked without being handled')
  })
})

describe('PublishBatch chunking', () => {
  it('splits by 10 entries and by 256 KiB per request, keeping order', () => {
    const small = Array.from({ length: 25 }, (_, i) => publishEntry(envelope(i), i, false))
    expect(chunkEntries(small).map((c) => c.length)).toEqual([10, 10, 5])
    const big = Array.from({ length: 5 }, (_, i) => publishEntry(envelope(i, 'x'.repeat(100_000)), i, false))
    const chunks = chunkEntries(big)
    expect(chunks.map((c) => c.length)).toEqual([2, 2, 1])
    expect(chunks.flat().map((e) => e.Id)).toEqual(['0', '1', '2', '3', '4'])
  })

  it('rejects one event over the limit with a ValidationError naming its size and the 256 KiB limit', () => {
    const err = (() => {
      try {
        publishEntry(envelope(1, 'x'.repeat(MAX_ENVELOPE_BYTES)), 0, false)
      } catch (e) {
        return e as Error
      }
    })()
    expect(err?.name).toBe('ValidationError')
    expect(err?.message).toMatch(/is \d+ bytes encoded/)
    expect(err?.message).toContain('262144')
    expect(err?.message).toContain(String(MAX_ENVELOPE_BYTES))
  })

  it('sets MessageGroupId to the key (or type) and MessageDeduplicationId to the event id on FIFO', () => {
    const keyed = publishEntry({ ...envelope(1), subject: 'order-7' }, 0, true).entry
    expect(keyed.MessageGroupId).toBe('order-7')
    expect(keyed.MessageDeduplicationId).toBe(envelope(1).id)
    expect(publishEntry(envelope(2), 0, true).entry.MessageGroupId).toBe('feedback.created')
    expect(publishEntry({ ...envelope(3), subject: 'k'.repeat(200) }, 0, true).entry.MessageGroupId).toHaveLength(64)
  })
})
