import { assertEventType, assertPattern, ConfigError, literalPrefix, matchesPattern } from '@tierbus/core'
import { describe, expect, it } from 'vitest'

describe('subjects', () => {
  it.each([
    ['feedback.created', 'feedback.created', true],
    ['feedback.created', 'feedback.updated', false],
    ['agent.*.heartbeat', 'agent.a1.heartbeat', true],
    ['agent.*.heartbeat', 'agent.a1.b.heartbeat', false],
    ['agent.*.heartbeat', 'agent.heartbeat', false],
    ['work.nlp.>', 'work.nlp.high.sentiment', true],
    ['work.nlp.>', 'work.nlp.low', true],
    ['work.nlp.>', 'work.nlp', false],
    ['work.nlp.>', 'work.nlpx.low', false],
    ['>', 'anything.at.all', true],
    ['coord.*.>', 'coord.wf1.stage2', true],
    ['a-b.*', 'a-b.c', true],
    // tierbus-internal types (request-reply inboxes, migration relays) never match a leading wildcard
    ['>', '_inbox.abc', false],
    ['*.abc', '_inbox.abc', false],
    ['_inbox.*', '_inbox.abc', true],
  ])('pattern %s vs %s -> %s', (pattern, type, expected) => {
    expect(matchesPattern(pattern, type)).toBe(expected)
  })

  it('rejects invalid patterns and types with a ConfigError explaining the syntax', () => {
    expect(() => assertPattern('work.>.nlp')).toThrow(ConfigError)
    expect(() => assertPattern('work..nlp')).toThrow(/dot-separated/)
    expect(() => assertEventType('agent.*.heartbeat')).toThrow(ConfigError)
    expect(() => assertEventType('')).toThrow(ConfigError)
    expect(() => assertEventType('has space')).toThrow(ConfigError)
  })

  it('gives the literal prefix a tier without wildcards filters on', () => {
    expect(literalPrefix('work.nlp.>')).toBe('work.nlp.')
    expect(literalPrefix('agent.*.heartbeat')).toBe('agent.')
    expect(literalPrefix('feedback.created')).toBe('feedback.created')
    expect(literalPrefix('>')).toBe('')
  })
})
