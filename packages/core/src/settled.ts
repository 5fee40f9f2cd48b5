/**
 * An already-resolved promise that core recognises by identity. A function in core that returns a
 * `Promise<void>` (the memory tier's ack, publish and dispatch hand-off; the consumer's `accept`) returns
 * this one when its work is already done, and a caller in core that sees it carries on synchronously
 * instead of spending an `await` (a microtask and an async frame) per event. Any other promise is awaited
 * as usual, so a transport outside core never has to know about it. Internal: not exported by the package.
 */
export const SETTLED: Promise<void> = Promise.resolve()
