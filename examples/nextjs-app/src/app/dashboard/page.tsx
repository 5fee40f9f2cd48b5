'use client'

import { useCallback, useEffect, useState } from 'react'

type Summary = { count: number; p50: number; p95: number; p99: number }
type Metrics = {
  transport: string
  eventVolume: { perSecond: number; perDay: number; published: number; handled: number }
  latency: { endToEndMs: Summary; handlerMs: Summary }
  errorRate: number
  dlqCount: number
  groups: Record<string, { patterns: string[]; delivered: number; acked: number; retried: number; deadLettered: number; lag: number }>
  migration: { phase: string } | null
  recommendation: { action: string; currentTier: string; recommendedTier: string; reasons: string[] }
}
type DeadLetter = { id: string; group: string; failedAt: string; envelope?: { id: string; type: string; data: unknown }; reason: { kind: string; error: string; attempts: number } }
type Point = { t: number; rate: number; acked: number; p50: number; p99: number }

/** A small SVG line chart of one or two series over the last minute. */
function Chart({ points, series, unit, testId }: { points: Point[]; series: Array<{ key: keyof Point; color: string; label: string }>; unit: string; testId: string }) {
  const w = 440
  const h = 140
  const max = Math.max(1, ...points.flatMap((p) => series.map((s) => Number(p[s.key]))))
  const x = (i: number) => (points.length <= 1 ? 0 : (i / (points.length - 1)) * (w - 40)) + 36
  const y = (v: number) => h - 20 - (v / max) * (h - 30)
  return (
    <svg data-testid={testId} width={w} height={h} style={{ border: '1px solid #d9e2ec', borderRadius: 6, background: '#fff' }}>
      <text x={4} y={14} fontSize={11} fill="#52606d">{max.toFixed(max < 10 ? 1 : 0)} {unit}</text>
      <text x={4} y={h - 6} fontSize={11} fill="#52606d">0</text>
      {series.map((s, k) => (
        <g key={String(s.key)}>
          <polyline fill="none" stroke={s.color} strokeWidth={2} points={points.map((p, i) => `${x(i)},${y(Number(p[s.key]))}`).join(' ')} />
          <text x={w - 150 + k * 75} y={14} fontSize={11} fill={s.color}>{s.label}</text>
        </g>
      ))}
    </svg>
  )
}

export default function Dashboard() {
  const [metrics, setMetrics] = useState<Metrics | null>(null)
  const [points, setPoints] = useState<Point[]>([])
  const [dead, setDead] = useState<DeadLetter[]>([])

  const refresh = useCallback(async () => {
    const [m, d] = await Promise.all([
      fetch('/api/events/metrics', { cache: 'no-store' }).then((r) => r.json() as Promise<Metrics>),
      fetch('/api/events/dlq', { cache: 'no-store' }).then((r) => r.json() as Promise<{ deadLetters: DeadLetter[] }>),
    ])
    setMetrics(m)
    setDead(d.deadLetters)
    setPoints((prev) => [...prev, { t: Date.now(), rate: m.eventVolume.perSecond, acked: m.eventVolume.handled, p50: m.latency.endToEndMs.p50, p99: m.latency.endToEndMs.p99 }].slice(-60))
  }, [])

  useEffect(() => {
    void refresh().catch(() => {})
    const timer = setInterval(() => void refresh().catch(() => {}), 1000)
    return () => clearInterval(timer)
  }, [refresh])

  async function redrive(id: string) {
    await fetch('/api/events/dlq', { method: 'POST', body: JSON.stringify({ ids: [id] }) })
    await refresh()
  }

  if (!metrics) return <p>loading…</p>
  const r = metrics.recommendation
  return (
    <main>
      <h1>Events dashboard</h1>
      <p>
        Tier: <strong data-testid="tier">{metrics.transport}</strong> · migration phase:{' '}
        <strong data-testid="migration-phase">{metrics.migration ? metrics.migration.phase : 'none'}</strong> · published{' '}
        <strong data-testid="published">{metrics.eventVolume.published}</strong> · handled <strong data-testid="handled">{metrics.eventVolume.handled}</strong> · error rate{' '}
        {(metrics.errorRate * 100).toFixed(1)}% · DLQ <strong data-testid="dlq-count">{metrics.dlqCount}</strong>
      </p>
      <p data-testid="advisor">
        Advisor: <strong>{r.action === 'stay' ? `stay on ${r.recommendedTier}` : r.action === 'watch' ? `watch (may need ${r.recommendedTier})` : `migrate to ${r.recommendedTier}`}</strong> — {r.reasons.join('; ')}
      </p>
      <div style={{ display: 'flex', gap: '1rem', flexWrap: 'wrap' }}>
        <div>
          <h3>Throughput (events/s, 10 s window)</h3>
          <Chart testId="throughput-chart" points={points} unit="ev/s" series={[{ key: 'rate', color: '#2680c2', label: 'published' }]} />
        </div>
        <div>
          <h3>End-to-end latency (ms)</h3>
          <Chart testId="latency-chart" points={points} unit="ms" series={[{ key: 'p50', color: '#3ebd93', label: 'p50' }, { key: 'p99', color: '#e12d39', label: 'p99' }]} />
        </div>
      </div>
      <h3>Consumer groups</h3>
      <table data-testid="groups" cellPadding={4} style={{ borderCollapse: 'collapse' }}>
        <thead><tr><th align="left">group</th><th align="left">patterns</th><th>handled</th><th>retried</th><th>dead-lettered</th><th>lag</th></tr></thead>
        <tbody>
          {Object.entries(metrics.groups).map(([name, g]) => (
            <tr key={name} data-testid={`group-${name}`}>
              <td>{name}</td><td>{g.patterns.join(', ')}</td><td align="right">{g.acked}</td><td align="right">{g.retried}</td><td align="right">{g.deadLettered}</td><td align="right" data-testid={`lag-${name}`}>{g.lag}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h3>Dead letters</h3>
      {dead.length === 0 ? <p data-testid="dlq-empty">none</p> : (
        <table data-testid="dlq" cellPadding={4}>
          <thead><tr><th align="left">group</th><th align="left">event</th><th align="left">reason</th><th /></tr></thead>
          <tbody>
            {dead.map((d) => (
              <tr key={d.id} data-testid="dlq-row">
                <td>{d.group}</td>
                <td>{d.envelope?.type} {JSON.stringify(d.envelope?.data)}</td>
                <td>{d.reason.kind} after {d.reason.attempts}: {d.reason.error}</td>
                <td><button data-testid="redrive" onClick={() => void redrive(d.id)}>Redrive</button></td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </main>
  )
}
