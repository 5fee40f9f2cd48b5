import type { z } from 'zod'
import { ConfigError, ValidationError, type ValidationIssue } from './errors.js'
import { assertEventType } from './subjects.js'

/** A domain event type: its name, the zod schema of its data, a version, and (for commands) a reply schema. */
export interface EventDefinition<
  TType extends string = string,
  TSchema extends z.ZodType = z.ZodType,
  TReply extends z.ZodType | undefined = z.ZodType | undefined,
> {
  /** Dot-separated event type, e.g. `feedback.created`; routes the event and names it in the envelope. */
  readonly type: TType
  /** Schema of `data`: publishers pass its input type, handlers receive its output type. */
  readonly schema: TSchema
  /** Schema version, carried as the envelope's `dataversion` extension. */
  readonly version: number
  /** Schema of the reply, for events used with `bus.request()`. */
  readonly reply: TReply
}

/** Any event definition. */
// biome-ignore lint/suspicious/noExplicitAny: schema types are invariant; any is what lets every definition match
export type AnyEventDefinition = EventDefinition<string, any, any>

/** What a publisher passes as data (the schema's input type). */
export type EventInput<D extends AnyEventDefinition> = z.input<D['schema']>
/** What a handler receives as data (the schema's output type). */
export type EventOutput<D extends AnyEventDefinition> = z.output<D['schema']>
/** What `bus.request()` resolves with: the reply schema's output, or `unknown` without one. */
export type ReplyOutput<D extends AnyEventDefinition> = D['reply'] extends z.ZodType ? z.output<D['reply']> : unknown
/** What a request handler may return: the reply schema's input, or `unknown` without one. */
export type ReplyInput<D extends AnyEventDefinition> = D['reply'] extends z.ZodType ? z.input<D['reply']> : unknown

/** Options of `defineEvent`. */
export interface DefineEventOptions<TReply extends z.ZodType | undefined> {
  /** Schema version (a positive integer); default 1. */
  version?: number
  /** Schema of the reply when the event is a request (see `bus.request`). */
  reply?: TReply
}

/** Declares a domain event: `defineEvent('feedback.created', z.object({ ... }))`. */
export function defineEvent<
  TType extends string,
  TSchema extends z.ZodType,
  TReply extends z.ZodType | undefined = undefined,
>(type: TType, schema: TSchema, options: DefineEventOptions<TReply> = {}): EventDefinition<TType, TSchema, TReply> {
  assertEventType(type)
  if (!schema || typeof (schema as { safeParse?: unknown }).safeParse !== 'function') {
    throw new ConfigError(`defineEvent('${type}', schema): schema must be a zod schema (e.g. z.object({...}))`)
  }
  const version = options.version ?? 1
  if (!Number.isInteger(version) || version < 1) {
    throw new ConfigError(`defineEvent('${type}'): version must be a positive integer, got ${String(version)}`)
  }
  return Object.freeze({ type, schema, version, reply: options.reply as TReply })
}

/** Converts zod issues to tierbus issues. */
export function issuesOf(error: z.ZodError): ValidationIssue[] {
  return error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message }))
}

/** One-line summary of issues, e.g. `text: Required; score: Too big`. */
export function summarizeIssues(issues: readonly ValidationIssue[]): string {
  return issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('; ')
}

/** Parses `data` with a schema; throws a ValidationError naming the event and every issue. */
export function parseData<S extends z.ZodType>(
  schema: S,
  type: string,
  data: unknown,
  side: 'publish' | 'consume' | 'reply',
): z.output<S> {
  const result = schema.safeParse(data)
  if (result.success) return result.data
  const issues = issuesOf(result.error)
  const what = side === 'publish' ? 'cannot publish' : side === 'reply' ? 'invalid reply to' : 'received invalid'
  throw new ValidationError(`${what} '${type}': ${summarizeIssues(issues)}`, issues)
}
