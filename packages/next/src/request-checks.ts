/** Methods that change state; only these get the content-type and same-origin checks. */
const UNSAFE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])

/** Why a request is refused before it reaches a route: status, stable code and a fixed public message. */
export interface Refusal {
  readonly status: 400 | 401 | 403 | 415
  readonly code: string
  readonly message: string
}

/** True for POST, PUT, PATCH and DELETE. */
export function isUnsafeMethod(request: Request): boolean {
  return UNSAFE_METHODS.has(request.method.toUpperCase())
}

/**
 * A mutating request must say `content-type: application/json`: an HTML form or a `text/plain` fetch
 * can be sent cross-site without a CORS preflight, `application/json` cannot.
 */
export function contentTypeRefusal(request: Request): Refusal | undefined {
  const type = (request.headers.get('content-type') ?? '').split(';')[0]?.trim().toLowerCase()
  if (type === 'application/json') return undefined
  return {
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
    message: 'send the request with content-type: application/json',
  }
}

/** Hosts a same-origin request may name in its Origin header: the host it was sent to. */
function hostsOf(request: Request): Set<string> {
  const hosts = new Set([new URL(request.url).host])
  // Set by the browser (Host) or by the proxy in front of the app; a cross-site page can set neither.
  for (const name of ['host', 'x-forwarded-host']) {
    const value = request.headers.get(name)
    if (value) hosts.add((value.split(',')[0] ?? '').trim())
  }
  return hosts
}

/**
 * Refuses a mutating request a browser sent from another site (CSRF): its `Origin` must name the
 * request's own host (or one of `allowedOrigins`), and without an Origin its `Sec-Fetch-Site` must be
 * `same-origin` or `none`. Server-to-server callers (cron, curl) send neither header and pass.
 */
export function crossSiteRefusal(request: Request, allowedOrigins: readonly string[] = []): Refusal | undefined {
  const refused: Refusal = { status: 403, code: 'CROSS_SITE', message: 'cross-site request refused' }
  const origin = request.headers.get('origin')
  if (origin !== null) {
    if (allowedOrigins.includes(origin)) return undefined
    let host: string
    try {
      host = new URL(origin).host
    } catch {
      return refused // `Origin: null` (sandboxed frames, some redirects) names no host.
    }
    return hostsOf(request).has(host) ? undefined : refused
  }
  const site = request.headers.get('sec-fetch-site')
  return site === null || site === 'same-origin' || site === 'none' ? undefined : refused
}
