import type { DeadLetter } from './transport.js'

// Web APIs only (TextDecoder, btoa): core also loads in edge runtimes.
const strictUtf8 = new TextDecoder('utf-8', { fatal: true })

/** How a dead letter's `raw` is written: UTF-8 text as is, or base64 of bytes that are not valid UTF-8. */
export type RawEncoding = 'base64'

/** The raw body of a dead letter as stored text: the text when the bytes are valid UTF-8, else their base64. */
export function rawBodyOf(bytes: Uint8Array): { raw: string; rawEncoding?: RawEncoding } {
  try {
    return { raw: strictUtf8.decode(bytes) }
  } catch {
    let binary = ''
    for (const byte of bytes) binary += String.fromCharCode(byte)
    return { raw: btoa(binary), rawEncoding: 'base64' }
  }
}

/** The exact bytes of a dead letter that could not be decoded (undefined when it holds an envelope). */
export function deadLetterBody(letter: Pick<DeadLetter, 'raw' | 'rawEncoding'>): Uint8Array | undefined {
  if (letter.raw === undefined) return undefined
  if (letter.rawEncoding !== 'base64') return new TextEncoder().encode(letter.raw)
  return Uint8Array.from(atob(letter.raw), (c) => c.charCodeAt(0))
}
