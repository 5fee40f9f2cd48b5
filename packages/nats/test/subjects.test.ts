import { describe, expect, it } from 'vitest'
import { durableName, subjectsOverlap, subjectWithin } from '../src/index.js'
import { deliveryCountOf } from '../src/pulled-message.js'

describe('NATS subject mapping', () => {
  it('knows which patterns a stream subject holds', () => {
    expect(subjectWithin('p.work.nlp.>', 'p.>')).toBe(true)
    expect(subjectWithin('p.agent.*.heartbeat', 'p.agent.>')).toBe(true)
    expect(subjectWithin('p.>', 'p.work.>')).toBe(false)
    expect(subjectWithin('p.work', 'p.work.>')).toBe(false)
    expect(subjectWithin('p.a.b', 'p.*.b')).toBe(true)
    expect(subjectWithin('p.*.b', 'p.a.b')).toBe(false)
  })

  it('detects overlapping stream subjects', () => {
    expect(subjectsOverlap('p.work.>', 'p.work.nlp.*')).toBe(true)
    expect(subjectsOverlap('p.work.>', 'p.coord.>')).toBe(false)
    expect(subjectsOverlap('p.*.x', 'p.a.*')).toBe(true)
    expect(subjectsOverlap('p.a', 'p.a.>')).toBe(false)
  })

  it('names durables safely for any group and pattern, distinct per pattern', () => {
    const a = durableName('workers.nlp:v2', 'work.nlp.>')
    expect(a).toMatch(/^[A-Za-z0-9_-]+$/)
    expect(a).not.toBe(durableName('workers.nlp:v2', 'work.vision.>'))
  })

  it('reads the delivery count from both JetStream ack subject formats', () => {
    expect(deliveryCountOf('$JS.ACK.S.C.3.10.9.1700000000000000000.0')).toBe(3)
    expect(deliveryCountOf('$JS.ACK.dom.ACCHASH.S.C.2.10.9.1700000000000000000.0.rnd')).toBe(2)
    expect(deliveryCountOf('garbage')).toBe(1)
  })
})
