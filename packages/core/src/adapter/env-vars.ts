import { z } from 'zod'
import { ConfigError } from '../errors.js'
import type { Env } from '../registry.js'

/**
 * Validates `env` against a zod object schema of variables; on failure throws one ConfigError in the
 * format every tier shares: `<context>: NAME is not set (expected …); NAME is invalid (expected …)[. advice]`.
 * Values are never quoted: they may hold a secret (a key, a password inside a URL).
 */
export function parseEnv<T extends z.ZodType>(schema: T, env: Env, context: string, advice?: string): z.infer<T> {
  const parsed = schema.safeParse(env)
  if (parsed.success) return parsed.data
  const problems = parsed.error.issues.map((issue) => {
    const name = String(issue.path[0] ?? '(environment)')
    return env[name] === undefined
      ? `${name} is not set (expected ${issue.message})`
      : `${name} is invalid (expected ${issue.message})`
  })
  throw new ConfigError(`${context}: ${problems.join('; ')}${advice ? `. ${advice}` : ''}`)
}

/** Zod fields for environment variables (all strings), each with the "expected …" text of its error. */
export const envVar = Object.freeze({
  /** An integer >= 1, e.g. a poll interval in ms. */
  positiveInt: () =>
    z.coerce.number({ error: 'a positive integer' }).int('a positive integer').positive('a positive integer'),
  /** An integer >= 0 (0 usually meaning "no limit"). */
  nonNegativeInt: () => z.coerce.number({ error: 'an integer >= 0' }).int('an integer >= 0').min(0, 'an integer >= 0'),
  /** A URL with one of `schemes` (without `://`), e.g. `url(['redis', 'rediss'], 'redis://127.0.0.1:6379')`. */
  url: (schemes: readonly string[], example: string) =>
    z
      .string()
      .regex(
        new RegExp(`^(${schemes.join('|')})://`),
        `a ${schemes.map((s) => `${s}://`).join(' or ')} URL such as ${example}`,
      ),
  /** `true` or `false`. */
  flag: () => z.enum(['true', 'false'], { error: 'true or false' }),
  /** One of `values`. */
  oneOf: <const V extends readonly [string, ...string[]]>(values: V) =>
    z.enum(values, { error: `one of ${values.join(', ')}` }),
})

/** Returns `value` when it is an integer >= 1; else throws a ConfigError naming the option. */
export function positiveInt(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 1)
    throw new ConfigError(`${name} must be a positive integer, got ${String(value)}`)
  return value
}
