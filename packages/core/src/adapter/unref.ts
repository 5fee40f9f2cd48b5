/**
 * Lets a timer not hold the process open, where timers can do that: in Node.js `setTimeout` returns an object
 * with `unref()`; in edge runtimes (Next.js middleware, `runtime = 'edge'` routes) and browsers it returns a
 * number, and calling `.unref()` on it throws. Returns the timer.
 */
export function unrefTimer<T>(timer: T): T {
  const t = timer as { unref?: () => unknown } | number | undefined
  if (typeof t === 'object' && t !== null && typeof t.unref === 'function') t.unref()
  return timer
}
