import { type Envelope, headersOf } from './envelope.js'

/** What a handler receives: the validated data plus the envelope's context. */
export interface ReceivedEvent<T = unknown> {
  readonly id: string
  readonly type: string
  readonly source: string
  /** RFC 3339 publish time. */
  readonly time: string
  /** The ordering key (`publish(..., { key })`), if any. */
  readonly subject: string | undefined
  /** Data after the consumer-side schema check (the schema's output type). */
  readonly data: T
  /** 1 on first delivery; the retry count plus one after that. */
  readonly attempt: number
  /** User headers sent with `publish(..., { headers })`. */
  readonly headers: Record<string, string>
  /** The full CloudEvents envelope as received. */
  readonly envelope: Envelope
}

/** Lazily derives the context fields from the envelope: nothing is copied per event. */
export class ReceivedEventView<T> implements ReceivedEvent<T> {
  constructor(
    readonly envelope: Envelope,
    readonly data: T,
    readonly attempt: number,
  ) {}

  get id(): string {
    return this.envelope.id
  }
  get type(): string {
    return this.envelope.type
  }
  get source(): string {
    return this.envelope.source
  }
  get time(): string {
    return this.envelope.time
  }
  get subject(): string | undefined {
    return this.envelope.subject
  }
  get headers(): Record<string, string> {
    return headersOf(this.envelope)
  }
}
