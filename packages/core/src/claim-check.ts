import { capabilitiesOf } from './capabilities.js'
import { type Envelope, encodeEnvelope, utf8Length } from './envelope.js'
import { ConfigError, describeError, ValidationError } from './errors.js'
import { isPayloadStoreKind, newPayloadId, type PayloadStore, payloadIdOf, payloadRef } from './payload-store.js'
import type { Capabilities, Delivery, Subscription, SubscriptionSpec, Transport } from './transport.js'

/** The envelope attribute that carries a claim-check reference (`<store kind>:<32 hex>`) instead of `data`. */
export const PAYLOAD_REF_ATTRIBUTE = 'payloadref'

/** Options of `claimCheckTransport`. */
export interface ClaimCheckOptions {
  /** Where bodies too big for the tier go. */
  store: PayloadStore
  /**
   * Offload bodies whose encoded envelope is larger than this many bytes. Default: the tier's own limit for
   * the event's type (`capabilitiesFor(type)` on a router, else `capabilities.maxPayloadBytes`), so only
   * events the tier could not carry are offloaded; set it lower to keep big bodies off the broker.
   */
  thresholdBytes?: number
  /** Largest encoded envelope accepted at all, bytes (default 32 MiB); larger is a ValidationError. */
  maxPayloadBytes?: number
}

/** Defaults of `ClaimCheckOptions`. */
export const CLAIM_CHECK_DEFAULTS = Object.freeze({ maxPayloadBytes: 32 * 1024 * 1024 })

/** How long a delivery whose body could not be fetched waits before it is handed out again, ms (per attempt). */
const FETCH_RETRY_MS = 1_000

/**
 * Big events on every tier (the claim-check pattern): an envelope larger than the threshold is published
 * with its `data` moved to `store` and a `payloadref` attribute in its place; consumers get the event back
 * whole, as if it had travelled in the message. A reference is only ever one this store issued
 * (`<kind>:<32 hex>`, checked before any fetch; the store maps the id into its own bucket / table / key
 * prefix): anything else is dead-lettered as malformed with the reason, as is a body that is gone (expired)
 * or not JSON. A fetch that fails is retried like a failed handler, then dead-lettered.
 *
 * Bodies are not deleted on ack (other groups, replays and redrives of dead letters read them too): they
 * live as long as the store's retention, which must be at least the tier's.
 */
export function claimCheckTransport(inner: Transport, options: ClaimCheckOptions): Transport {
  const { store } = options
  if (!store || typeof store.put !== 'function' || typeof store.get !== 'function' || !isPayloadStoreKind(store.kind)) {
    throw new ConfigError(
      'claimCheckTransport(transport, { store }): store must be a PayloadStore { kind, put, get }, ' +
        'e.g. s3PayloadStore(...)',
    )
  }
  const maxPayloadBytes = options.maxPayloadBytes ?? CLAIM_CHECK_DEFAULTS.maxPayloadBytes
  const withMax = (caps: Capabilities): Capabilities => Object.freeze({ ...caps, maxPayloadBytes })
  const thresholdOf = (type: string) =>
    Math.min(options.thresholdBytes ?? Number.POSITIVE_INFINITY, capabilitiesOf(inner, type).maxPayloadBytes)

  async function offload(envelope: Envelope): Promise<Envelope> {
    if (PAYLOAD_REF_ATTRIBUTE in envelope) {
      throw new ValidationError(
        `event '${envelope.type}' (${envelope.id}) carries '${PAYLOAD_REF_ATTRIBUTE}', ` +
          'which claim-check reserves: remove it',
      )
    }
    const threshold = thresholdOf(envelope.type)
    if (!Number.isFinite(threshold)) return envelope
    const encoded = encodeEnvelope(envelope, maxPayloadBytes, `claim-check (${store.kind} store)`)
    if (encoded.length <= threshold / 3 || utf8Length(encoded) <= threshold) return envelope
    const id = newPayloadId()
    await store.put(id, JSON.stringify(envelope.data ?? null))
    return { ...envelope, data: null, [PAYLOAD_REF_ATTRIBUTE]: payloadRef(store, id) }
  }

  /** The delivery with its body fetched, a malformed one (bad or dangling reference), or undefined when put back. */
  async function fetched(d: Delivery, spec: SubscriptionSpec): Promise<Delivery | undefined> {
    const stub = d.envelope
    if (!stub || !(PAYLOAD_REF_ATTRIBUTE in stub)) return d
    const ref = stub[PAYLOAD_REF_ATTRIBUTE]
    const id = payloadIdOf(store, ref)
    if (!id)
      return malformed(
        d,
        stub,
        `claim-check: '${PAYLOAD_REF_ATTRIBUTE}' is not a reference the ${store.kind} payload store issued ` +
          `(expected ${store.kind}:<32 hex digits>); not fetched`,
      )
    let body: string | undefined
    try {
      body = await store.get(id)
    } catch (err) {
      if (d.attempt < spec.maxAttempts) {
        await d.retry(FETCH_RETRY_MS * d.attempt)
        return undefined
      }
      return malformed(
        d,
        stub,
        `claim-check: fetching ${store.kind}:${id} failed on attempt ${d.attempt}: ${describeError(err)}`,
      )
    }
    if (body === undefined)
      return malformed(
        d,
        stub,
        `claim-check: no body under ${store.kind}:${id} ` +
          '(expired or deleted: keep payloads at least as long as the tier keeps messages)',
      )
    let data: unknown
    try {
      data = JSON.parse(body)
    } catch {
      return malformed(d, stub, `claim-check: the body under ${store.kind}:${id} is not JSON`)
    }
    const { [PAYLOAD_REF_ATTRIBUTE]: _ref, ...envelope } = stub
    return { ...settlersOf(d), envelope: { ...envelope, data } as Envelope, attempt: d.attempt }
  }

  return {
    name: inner.name,
    capabilities: withMax(inner.capabilities),
    ...(inner.capabilitiesFor ? { capabilitiesFor: (pattern: string) => withMax(capabilitiesOf(inner, pattern)) } : {}),
    ...(inner.deadLetters ? { deadLetters: inner.deadLetters } : {}),
    ...(inner.orderingHint ? { orderingHint: inner.orderingHint } : {}),
    async publish(batch) {
      await inner.publish(await Promise.all(batch.map(offload)))
    },
    subscribe(spec, onBatch): Promise<Subscription> {
      return inner.subscribe(spec, async (batch) => {
        const ready = (await Promise.all(batch.map((d) => fetched(d, spec)))).filter(
          (d): d is Delivery => d !== undefined,
        )
        if (ready.length > 0) await onBatch(ready)
      })
    },
    async close() {
      await inner.close()
      await store.close?.()
    },
  }
}

/** The settle functions of a delivery, bound to it. */
function settlersOf(d: Delivery): Pick<Delivery, 'ack' | 'retry' | 'deadLetter' | 'touch'> {
  return {
    ack: () => d.ack(),
    retry: (delayMs) => d.retry(delayMs),
    deadLetter: (reason) => d.deadLetter(reason),
    ...(d.touch ? { touch: () => d.touch?.() ?? Promise.resolve() } : {}),
  }
}

/** The delivery as malformed: core dead-letters it at once with `error` (the stub, reference included, as raw). */
function malformed(d: Delivery, stub: Envelope, error: string): Delivery {
  return { ...settlersOf(d), envelope: undefined, malformed: { raw: JSON.stringify(stub), error }, attempt: d.attempt }
}
