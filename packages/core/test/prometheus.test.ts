import { createBus, defineEvent, LatencyHistogram, memoryTransport, prometheusText } from '@tierbus/core'
import { eventually } from '@tierbus/core/testing'
import parsePrometheusTextFormat from 'parse-prometheus-text-format'
import { describe, expect, it } from 'vitest'
import { z } from 'zod'

interface Family {
  name: string
  help: string
  type: string
  metrics: Array<{ value?: string; labels?: Record<string, string>; buckets?: Record<string, string> }>
}
const parse = (text: string) => parsePrometheusTextFormat(text) as Family[]

/**
 * Every sample with all its labels: the parser folds a histogram's samples into one bucket map (dropping
 * the other labels), so the samples are read a second time with the TYPE lines left out (as untyped).
 */
function samples(text: string): Array<{ name: string; labels: Record<string, string>; value: number }> {
  return parse(text.replace(/^# TYPE .*\n/gm, '')).flatMap((f) =>
    f.metrics.map((m) => ({ name: f.name, labels: m.labels ?? {}, value: Number(m.value) })),
  )
}

const Created = defineEvent('prom.created', z.object({ n: z.number() }))
const Other = defineEvent('prom.other', z.object({ n: z.number() }))

describe('prometheusText', () => {
  it('exposes counters, the handler and end-to-end histograms and group lag under conventional names', async () => {
    const bus = createBus({
      transport: memoryTransport(),
      source: 'prom-test',
      retry: { attempts: 2, backoff: { baseMs: 1, maxMs: 2 } },
      onError: () => {},
    })
    try {
      await bus.subscribe(
        Created,
        (e) => {
          if (e.data.n === 3) throw new Error('poison')
        },
        { group: 'workers' },
      )
      await bus.publishBatch(Created, [{ n: 1 }, { n: 2 }, { n: 3 }])
      await bus.publish(Other, { n: 9 })
      await eventually(() => bus.metrics().byType['prom.created']?.deadLettered === 1, 'the poison event dead-lettered')

      const text = prometheusText(bus)
      const families = new Map(parse(text).map((f) => [f.name, f]))
      expect([...families.keys()]).toEqual([
        'tierbus_transport_info',
        'tierbus_events_published_total',
        'tierbus_events_delivered_total',
        'tierbus_events_acked_total',
        'tierbus_events_retried_total',
        'tierbus_dead_letters_total',
        'tierbus_handler_duration_seconds',
        'tierbus_end_to_end_duration_seconds',
        'tierbus_group_lag',
        'tierbus_settle_failures_total',
      ])
      expect(families.get('tierbus_events_published_total')?.type).toBe('COUNTER')
      expect(families.get('tierbus_handler_duration_seconds')?.type).toBe('HISTOGRAM')
      expect(families.get('tierbus_group_lag')?.type).toBe('GAUGE')
      for (const f of families.values()) expect(f.help.length).toBeGreaterThan(10)

      const all = samples(text)
      const value = (name: string, labels: Record<string, string>) =>
        all.find((s) => s.name === name && JSON.stringify(s.labels) === JSON.stringify(labels))?.value
      expect(value('tierbus_transport_info', { transport: 'memory' })).toBe(1)
      expect(value('tierbus_events_published_total', { type: 'prom.created' })).toBe(3)
      expect(value('tierbus_events_published_total', { type: 'prom.other' })).toBe(1)
      expect(value('tierbus_events_acked_total', { type: 'prom.created' })).toBe(2)
      expect(value('tierbus_events_retried_total', { type: 'prom.created' })).toBe(1)
      expect(value('tierbus_dead_letters_total', { type: 'prom.created' })).toBe(1)
      expect(value('tierbus_group_lag', { group: 'workers' })).toBe(0)
      expect(value('tierbus_settle_failures_total', {})).toBe(0)

      // Four handler runs of prom.created (two acks, a failure, its failed retry): buckets cumulative up to +Inf.
      const buckets = all.filter(
        (s) => s.name === 'tierbus_handler_duration_seconds_bucket' && s.labels.type === 'prom.created',
      )
      expect(buckets.at(-1)?.labels.le).toBe('+Inf')
      expect(buckets.at(-1)?.value).toBe(4)
      expect(buckets.map((b) => b.value)).toEqual([...buckets.map((b) => b.value)].sort((a, b) => a - b))
      expect(buckets.map((b) => Number(b.labels.le)).slice(0, -1)).toEqual([
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
      ])
      expect(value('tierbus_handler_duration_seconds_count', { type: 'prom.created' })).toBe(4)
      expect(value('tierbus_handler_duration_seconds_sum', { type: 'prom.created' })).toBeGreaterThanOrEqual(0)
      expect(value('tierbus_end_to_end_duration_seconds_count', { type: 'prom.created' })).toBe(2)
    } finally {
      await bus.close()
    }
  })

  it('escapes backslashes, quotes and line feeds in label values', () => {
    const bus = createBus({ transport: memoryTransport(), source: 'prom-test' })
    const transport = 'odd"name\\with\nbreak'
    const text = prometheusText({ metrics: () => ({ ...bus.metrics(), transport }) })
    expect(samples(text).find((s) => s.name === 'tierbus_transport_info')?.labels.transport).toBe(transport)
    void bus.close()
  })

  it('buckets observations cumulatively at the requested bounds', () => {
    const h = new LatencyHistogram()
    for (const ms of [0.5, 3, 7, 40, 2_000]) h.record(ms)
    expect(h.buckets([1, 5, 10, 50, 1_000])).toEqual({
      boundsMs: [1, 5, 10, 50, 1_000],
      counts: [1, 2, 3, 4, 4],
      sumMs: 2_050.5,
      count: 5,
    })
    expect(new LatencyHistogram().buckets([1, 2]).counts).toEqual([0, 0])
  })
})
