import { inspect } from 'node:util'
import { ConfigError, describeError, redactSecrets, TransportError } from '@tierbus/core'
import { describe, expect, it } from 'vitest'

describe('redactSecrets', () => {
  it.each([
    ['nats://alice:s3cret@127.0.0.1:4222', 'nats://alice:***@127.0.0.1:4222'],
    ['nats://s3cret@127.0.0.1:4222,nats://bob:s3cret@h2:4222', 'nats://***@127.0.0.1:4222,nats://bob:***@h2:4222'],
    ['redis://:s3cret@127.0.0.1:6379/0', 'redis://:***@127.0.0.1:6379/0'],
    ['at postgres://app:p@ss:w0rd@db:5432/app failed', 'at postgres://app:***@db:5432/app failed'],
    [
      'https://x.example/rest?apikey=s3cret&mode=a&password=s3cret',
      'https://x.example/rest?apikey=***&mode=a&password=***',
    ],
    ['postgres://u@h/db?sslmode=require&token=s3cret', 'postgres://u@h/db?sslmode=require&token=***'],
  ])('redacts %s', (text, expected) => {
    expect(redactSecrets(text)).toBe(expected)
  })

  it('leaves text without credentials alone (a user name is not a secret outside NATS token URLs)', () => {
    for (const text of ['postgres://postgres@127.0.0.1:5432/app', 'no url here', 'retry.backoff baseMs=10'])
      expect(redactSecrets(text)).toBe(text)
  })
})

describe('TierbusError redacts every message it carries', () => {
  it('redacts its own message, its cause and what a logger prints', () => {
    const cause = new Error('connect ECONNREFUSED nats://alice:s3cret@10.0.0.1:4222')
    const err = new TransportError('cannot connect to NATS at nats://alice:s3cret@10.0.0.1:4222', { cause })
    expect(err.message).toBe('cannot connect to NATS at nats://alice:***@10.0.0.1:4222')
    expect(inspect(err)).not.toContain('s3cret')
    expect(String(err.stack)).not.toContain('s3cret')
    expect(new ConfigError('DATABASE_URL=postgres://u:s3cret@h/db is wrong').message).not.toContain('s3cret')
  })

  it('describeError (dead-letter reasons, onError) redacts foreign errors too', () => {
    expect(describeError(new Error('redis://:s3cret@h:6379 refused'))).toBe('Error: redis://:***@h:6379 refused')
  })
})
