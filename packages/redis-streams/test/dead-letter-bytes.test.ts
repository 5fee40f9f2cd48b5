import { afterAll, describe, expect, it } from 'vitest'
import { LUA_BYTES_AS_TEXT } from '../src/commands.js'
import { adminClient } from './helpers.js'

const admin = adminClient()
afterAll(() => admin.quit())
const strict = new TextDecoder('utf-8', { fatal: true })

function isUtf8(bytes: Buffer): boolean {
  try {
    strict.decode(bytes)
    return true
  } catch {
    return false
  }
}

describe('redis: the dead-letter script keeps bytes that are not UTF-8 as base64', () => {
  const cases: Array<[string, number[]]> = [
    ['ascii', [0x7b, 0x7d]],
    ['2-, 3- and 4-byte characters', [0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x98, 0x80]],
    ['a lone continuation byte', [0x80]],
    ['an overlong 2-byte form', [0xc0, 0xaf]],
    ['an overlong 3-byte form', [0xe0, 0x80, 0xaf]],
    ['a UTF-16 surrogate', [0xed, 0xa0, 0x80]],
    ['a code point past U+10FFFF', [0xf4, 0x90, 0x80, 0x80]],
    ['a truncated sequence', [0xe2, 0x82]],
    ['one and two padding bytes', [0xff, 0x00, 0x01, 0x02]],
  ]
  it.each(cases)('judges %s as a strict UTF-8 decoder does, and base64-encodes it as Node does', async (_, list) => {
    const bytes = Buffer.from(list)
    const [valid, encoded] = (await admin.eval(
      `${LUA_BYTES_AS_TEXT}\nreturn { isUtf8(ARGV[1]) and 1 or 0, base64(ARGV[1]) }`,
      0,
      bytes,
    )) as [number, string]
    expect(valid === 1).toBe(isUtf8(bytes))
    expect(encoded).toBe(bytes.toString('base64'))
  })
})
