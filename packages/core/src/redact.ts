/**
 * Credentials in text: the password of a URL's userinfo (`scheme://user:password@host`), the whole
 * userinfo of NATS URLs (`nats://token@host` is token auth), and secret-looking query parameters
 * (`?password=`, `token=`, `secret=`, `api_key=` ...). Connection strings reach error messages through
 * option values, env variables and client errors; every TierbusError message passes through here.
 */
const USERINFO_PASSWORD = /\b([a-z][a-z0-9+.-]*:\/\/[^\s:/?#@'"]*):[^\s/?#'"]*@/gi
const NATS_TOKEN = /\b((?:nats|tls|ws|wss):\/\/)[^\s:/?#@'",]+@/gi
const SECRET_PARAM =
  /([?&;](?:[a-z0-9_.-]*?)(?:password|passwd|pwd|token|secret|api[_-]?key|access[_-]?key|sig|signature)=)[^\s&#'"]*/gi

/** What a redacted secret is replaced with. */
export const REDACTED = '***'

/** Replaces passwords, tokens and secret query parameters of every URL inside `text` with `***`. */
export function redactSecrets(text: string): string {
  // Fast path: no URL, no query parameter, nothing to redact (most error messages).
  if (!text.includes('://') && !text.includes('=')) return text
  return text
    .replace(USERINFO_PASSWORD, `$1:${REDACTED}@`)
    .replace(NATS_TOKEN, `$1${REDACTED}@`)
    .replace(SECRET_PARAM, `$1${REDACTED}`)
}
