import { newEventId, timeOfId } from '@tierbus/core'
import { validate, version } from 'uuid'
import { describe, expect, it } from 'vitest'

describe('newEventId', () => {
  it('makes RFC 9562 UUIDv7 ids that sort in creation order, also within one millisecond', () => {
    const ids = Array.from({ length: 20_000 }, () => newEventId())
    for (const id of ids) {
      expect(validate(id)).toBe(true)
      expect(version(id)).toBe(7)
    }
    expect([...ids].sort()).toEqual(ids)
    expect(new Set(ids).size).toBe(ids.length)
  })

  it('encodes the creation time, or the time the caller passes', () => {
    const before = Date.now()
    const id = newEventId()
    expect(timeOfId(id)).toBeGreaterThanOrEqual(before)
    expect(timeOfId(id)).toBeLessThanOrEqual(Date.now())
    const later = Date.now() + 60_000
    expect(timeOfId(newEventId(later))).toBe(later)
    expect(timeOfId('not-a-uuid')).toBeUndefined()
  })
})
