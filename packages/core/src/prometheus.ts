import type { LatencyBuckets } from './histogram.js'
import type { MetricsSnapshot } from './metrics.js'

/** The `Content-Type` of the Prometheus text exposition format (version 0.0.4), which every scraper accepts. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'

/** What `prometheusText` reads: a bus, or anything else with `metrics()`. */
export interface MetricsSource {
  metrics(): MetricsSnapshot
}

type Labels = Readonly<Record<string, string>>

/** Escapes a label value as the text format requires: backslash, double quote and line feed. */
const escapeLabel = (value: string): string => value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')

const labelText = (labels: Labels): string => {
  const pairs = Object.entries(labels).map(([name, value]) => `${name}="${escapeLabel(value)}"`)
  return pairs.length ? `{${pairs.join(',')}}` : ''
}

/** Writes one metric family: HELP and TYPE lines, then its samples. */
class Exposition {
  private readonly lines: string[] = []

  family(name: string, type: 'counter' | 'gauge' | 'histogram', help: string): this {
    this.lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`)
    return this
  }

  sample(name: string, labels: Labels, value: number): this {
    this.lines.push(`${name}${labelText(labels)} ${Number.isFinite(value) ? value : 0}`)
    return this
  }

  /** A histogram's `_bucket` (cumulative, `le` in seconds, ending with +Inf), `_sum` and `_count` samples. */
  histogram(name: string, labels: Labels, h: LatencyBuckets): this {
    for (const [i, bound] of h.boundsMs.entries()) {
      this.sample(`${name}_bucket`, { ...labels, le: String(bound / 1000) }, h.counts[i] ?? h.count)
    }
    this.sample(`${name}_bucket`, { ...labels, le: '+Inf' }, h.count)
    this.sample(`${name}_sum`, labels, h.sumMs / 1000)
    return this.sample(`${name}_count`, labels, h.count)
  }

  toString(): string {
    return `${this.lines.join('\n')}\n`
  }
}

/**
 * The bus's metrics in the Prometheus text exposition format (serve it with `PROMETHEUS_CONTENT_TYPE`):
 * per event type `tierbus_events_published_total`, `_delivered_total`, `_acked_total`, `_retried_total`,
 * `tierbus_dead_letters_total`, the `tierbus_handler_duration_seconds` and
 * `tierbus_end_to_end_duration_seconds` histograms; per consumer group `tierbus_group_lag`; and
 * `tierbus_settle_failures_total`, `tierbus_transport_info{transport}`. Counts are this process's since start.
 */
export function prometheusText(source: MetricsSource): string {
  const m = source.metrics()
  const types = Object.entries(m.byType)
  const out = new Exposition()
  out.family('tierbus_transport_info', 'gauge', 'The tier this bus publishes to and consumes from (always 1).')
  out.sample('tierbus_transport_info', { transport: m.transport }, 1)
  const counters = [
    ['tierbus_events_published_total', 'Events published by this process.', 'published'],
    [
      'tierbus_events_delivered_total',
      'Deliveries handed to a handler (or to the dead-letter path) in this process.',
      'delivered',
    ],
    ['tierbus_events_acked_total', 'Deliveries whose handler succeeded.', 'acked'],
    ['tierbus_events_retried_total', 'Deliveries scheduled for another attempt after their handler threw.', 'retried'],
    ['tierbus_dead_letters_total', 'Deliveries sent to the dead-letter destination.', 'deadLettered'],
  ] as const
  for (const [name, help, field] of counters) {
    out.family(name, 'counter', help)
    for (const [type, t] of types) out.sample(name, { type }, t[field])
  }
  out.family('tierbus_handler_duration_seconds', 'histogram', 'Handler run time, successful or not.')
  for (const [type, t] of types) out.histogram('tierbus_handler_duration_seconds', { type }, t.handlerBuckets)
  out.family(
    'tierbus_end_to_end_duration_seconds',
    'histogram',
    "From the event's publish time to its handler finishing.",
  )
  for (const [type, t] of types) out.histogram('tierbus_end_to_end_duration_seconds', { type }, t.endToEndBuckets)
  out.family(
    'tierbus_group_lag',
    'gauge',
    "Events of the group's types published by this process and not yet settled by the group here.",
  )
  for (const [group, g] of Object.entries(m.byGroup)) out.sample('tierbus_group_lag', { group }, g.lag)
  out.family(
    'tierbus_settle_failures_total',
    'counter',
    'Ack, retry or dead-letter calls the tier failed (the message comes back after its lease).',
  )
  out.sample('tierbus_settle_failures_total', {}, m.totals.settleFailures)
  return out.toString()
}
