import { assertPattern, ConfigError } from '@tierbus/core'
import { parse } from 'yaml'
import { z } from 'zod'

/** A message type of a workload profile (the MisterSmith capacity plan's format). */
export interface MessageTypeProfile {
  readonly name: string
  /** Per agent per second, the rate used for capacity (typical, or the midpoint of the range). */
  readonly ratePerAgentPerSecond: number
  /** Bytes per message used for capacity (typical, or the top of the range). */
  readonly sizeBytes: number
  readonly pattern?: string
  readonly durability?: string
  /** How the class is consumed: fan-out to subscribers, a work queue with ack, or a high-volume stream. */
  readonly kind: MessageKind
  /** Must survive a broker or app restart (durability not `transient`). */
  readonly persistent: boolean
  /** The end-to-end latency the class needs, ms. */
  readonly latencyMs: number
  /** NATS-style patterns of the event types in this class (default `<name>.>`), for the route table. */
  readonly subjects: readonly string[]
}

/** How a message class is consumed. */
export type MessageKind = 'broadcast' | 'queue' | 'stream'

/** A parsed workload profile. */
export interface WorkloadProfile {
  readonly name: string
  readonly agents: number
  readonly daysPerMonth: number
  readonly peakFactors: Readonly<Record<string, number>>
  /** Broker connections the workload holds: agents × connections_per_agent + service_connections. */
  readonly connections: number
  readonly messageTypes: readonly MessageTypeProfile[]
}

/** A class with no `latency_ms` is async: the capacity plan alerts on processing latency above 1 s. */
export const DEFAULT_LATENCY_MS = 1_000

const UNIT_SECONDS: Record<string, number> = {
  second: 1,
  seconds: 1,
  minute: 60,
  minutes: 60,
  hour: 3600,
  hours: 3600,
  day: 86_400,
  days: 86_400,
}
const SIZE_UNITS: Record<string, number> = { b: 1, byte: 1, bytes: 1, kb: 1000, mb: 1_000_000 }

/** `"2-10 per minute per agent"`, `"1 per 30 seconds per agent"` -> [low, high] per agent per second. */
export function parseRate(text: string, where: string): [number, number] {
  const m = /^\s*([\d.]+)(?:\s*-\s*([\d.]+))?\s+per\s+(?:([\d.]+)\s+)?([a-z]+)\s+per\s+agent\s*$/i.exec(text)
  const unitName = m?.[4]?.toLowerCase()
  const seconds = unitName === undefined ? undefined : UNIT_SECONDS[unitName]
  if (!m || seconds === undefined) {
    throw new ConfigError(
      `${where}: cannot read rate ${JSON.stringify(text)}; write it like "2-10 per minute per agent" or "1 per 30 seconds per agent"`,
    )
  }
  const per = seconds * (m[3] ? Number(m[3]) : 1)
  const low = Number(m[1]) / per
  return [low, m[2] ? Number(m[2]) / per : low]
}

/** `"1-5 KB"`, `"100-500 bytes"`, `"1.5 KB"` -> [low, high] bytes (KB = 1,000 bytes, as the MisterSmith capacity plan computes). */
export function parseSize(text: string, where: string): [number, number] {
  const m = /^\s*([\d.]+)(?:\s*-\s*([\d.]+))?\s*([a-z]+)\s*$/i.exec(text)
  const unitName = m?.[3]?.toLowerCase()
  const unit = unitName === undefined ? undefined : SIZE_UNITS[unitName]
  if (!m || unit === undefined)
    throw new ConfigError(
      `${where}: cannot read size ${JSON.stringify(text)}; write it like "1-5 KB" or "100-500 bytes"`,
    )
  const low = Number(m[1]) * unit
  return [low, m[2] ? Number(m[2]) * unit : low]
}

const ProfileSchema = z.object({
  name: z.string().default('workload'),
  agents: z.number().int().positive(),
  days_per_month: z.number().positive().default(30),
  peak_factors: z.record(z.string(), z.number().positive()).default({}),
  connections_per_agent: z.number().nonnegative().default(1),
  service_connections: z.number().int().nonnegative().default(0),
  message_types: z.record(
    z.string(),
    z.object({
      frequency: z.string(),
      typical_rate: z.string().optional(),
      size: z.string(),
      typical_size: z.string().optional(),
      pattern: z.string().optional(),
      durability: z.string().optional(),
      kind: z.enum(['broadcast', 'queue', 'stream']).optional(),
      latency_ms: z.number().positive().optional(),
      subjects: z.union([z.string(), z.array(z.string()).min(1)]).optional(),
    }),
  ),
})

/** Parses a workload profile from YAML text (the MisterSmith capacity plan's format, see profiles/mistersmith.yaml). */
export function parseProfile(yamlText: string): WorkloadProfile {
  let raw: unknown
  try {
    raw = parse(yamlText)
  } catch (err) {
    throw new ConfigError(`workload profile is not valid YAML: ${(err as Error).message}`, { cause: err })
  }
  const parsed = ProfileSchema.safeParse(raw)
  if (!parsed.success) {
    throw new ConfigError(
      `workload profile: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}; see profiles/mistersmith.yaml for the format`,
    )
  }
  const p = parsed.data
  return {
    name: p.name,
    agents: p.agents,
    daysPerMonth: p.days_per_month,
    peakFactors: p.peak_factors,
    connections: Math.ceil(p.agents * p.connections_per_agent) + p.service_connections,
    messageTypes: Object.entries(p.message_types).map(([name, t]) => {
      const where = `message_types.${name}`
      const [low, high] = parseRate(t.frequency, `${where}.frequency`)
      const [, maxSize] = parseSize(t.size, `${where}.size`)
      return {
        name,
        ratePerAgentPerSecond: t.typical_rate
          ? parseRate(t.typical_rate, `${where}.typical_rate`)[0]
          : (low + high) / 2,
        sizeBytes: t.typical_size ? parseSize(t.typical_size, `${where}.typical_size`)[0] : maxSize,
        ...(t.pattern ? { pattern: t.pattern } : {}),
        ...(t.durability ? { durability: t.durability } : {}),
        kind: t.kind ?? kindOf(t.pattern),
        persistent: !/^\s*transient/i.test(t.durability ?? ''),
        latencyMs: t.latency_ms ?? DEFAULT_LATENCY_MS,
        subjects: subjectsOf(name, t.subjects, `${where}.subjects`),
      }
    }),
  }
}

/** The kind a free-text pattern describes: "queue with acknowledgment" -> queue, "pub/sub with aggregation" -> stream. */
export function kindOf(pattern: string | undefined): MessageKind {
  if (pattern === undefined) return 'broadcast'
  if (/\bqueue\b/i.test(pattern)) return 'queue'
  if (/aggregat|bulk|stream/i.test(pattern)) return 'stream'
  return 'broadcast'
}

function subjectsOf(name: string, given: string | readonly string[] | undefined, where: string): readonly string[] {
  const subjects = given === undefined ? [`${name}.>`] : typeof given === 'string' ? [given] : given
  for (const s of subjects) {
    // '>' alone is the route table's catch-all, which the planner adds itself.
    if (s === '>')
      throw new ConfigError(`${where}: '>' matches every event; give the class its own prefix such as "${name}.>"`)
    try {
      assertPattern(s)
    } catch (err) {
      throw new ConfigError(`${where}: ${(err as Error).message}`, { cause: err })
    }
  }
  return subjects
}
