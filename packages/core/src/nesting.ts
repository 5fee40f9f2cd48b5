/** Deepest JSON nesting (objects and arrays) tierbus decodes; deeper bodies are malformed. */
export const MAX_NESTING_DEPTH = 64

const OPEN_OBJECT = 123 // {
const OPEN_ARRAY = 91 // [
const CLOSE_OBJECT = 125 // }
const CLOSE_ARRAY = 93 // ]
const QUOTE = 34 // "
const BACKSLASH = 92 // \

/**
 * True when a JSON text or an already-parsed value nests objects/arrays deeper than `max`. The text is
 * scanned without parsing (brackets inside strings do not count) and without recursion, so a body
 * 5,000 levels deep costs one linear pass and cannot overflow the stack.
 */
export function exceedsNestingDepth(input: string | unknown, max = MAX_NESTING_DEPTH): boolean {
  return typeof input === 'string' ? textExceeds(input, max) : valueExceeds(input, max, 0)
}

/** More than `max` `{`/`[` characters anywhere in the text (native `indexOf` scans; typical events have few). */
function hasManyOpeners(text: string, max: number): boolean {
  let count = 0
  for (const opener of ['{', '[']) {
    for (let i = text.indexOf(opener); i !== -1; i = text.indexOf(opener, i + 1)) if (++count > max) return true
  }
  return false
}

function textExceeds(text: string, max: number): boolean {
  // Hot path (every decode): a body with at most `max` opening brackets cannot nest deeper, so the
  // character-by-character scan below runs only for bodies with many brackets.
  if (text.length <= max || !hasManyOpeners(text, max)) return false
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === BACKSLASH) i++
      else if (c === QUOTE) inString = false
    } else if (c === QUOTE) inString = true
    else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      if (++depth > max) return true
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) depth--
  }
  return false
}

function valueExceeds(value: unknown, max: number, depth: number): boolean {
  if (typeof value !== 'object' || value === null) return false
  // Recursion is bounded by `max`: it stops one level past the limit.
  if (depth + 1 > max) return true
  for (const key in value) {
    if (valueExceeds((value as Record<string, unknown>)[key], max, depth + 1)) return true
  }
  return false
}
