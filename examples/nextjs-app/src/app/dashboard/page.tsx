'use client'

import { EventSource } from 'eventsource'
import { type FormEvent, useCallback, useEffect, useState } from 'react'

type Summary = { count: number; p50: number; p95: number; p99: number }
type Metrics = {
  transport: string
  eventVolume: { perSecond: number; perDay: number; published: number; handled: number }
  latency: { endToEndMs: Summary; handlerMs: Summary }
  errorRate: number
  dlqCount: number
  groups: Record<
    string,
    { patterns: string[]; delivered: number; acked: number; retried: number; deadLettered: number; lag: number }
  >
  migration: { phase: string } | null
  recommendation: { action: string; currentTier: string; recommendedTier: string; reasons: string[] }
}
type DeadLetter = {
  id: string
  group: string
  failedAt: string
  envelope?: { id: string; type: string; data: unknown }
  reason: { kind: string; error: string; attempts: number }
}
type Point = { t: number; rate: number; acked: number; p50: number; p99: number }
/** One message of the live feed (`streamRoute`'s JSON). */
type LiveEvent = { id: string; type: string; time: string; data: unknown }

/** How long after the last streamed event the dashboard keeps refreshing its metrics (once a second). */
const ACTIVE_MS = 5_000

/** A small SVG line chart of one or two series over the last minute. */
function Chart({
  points,
  series,
  unit,
  testId,
}: {
  points: Point[]
  series: Array<{ key: keyof Point; color: string; label: string }>
  unit: string
  testId: string
}) {
  const w = 440
  const h = 140
  const max = Math.max(1, ...points.flatMap((p) => series.map((s) => Number(p[s.key]))))
  const x = (i: number) => (points.length <= 1 ? 0 : (i / (points.length - 1)) * (w - 40)) + 36
  const y = (v: number) => h - 20 - (v / max) * (h - 30)
  return (
    <svg
      data-testid={testId}
      width={w}
      height={h}
      style={{ border: '1px solid #d9e2ec', borderRadius: 6, background: '#fff' }}
    >
      <title>
        {series.map((s) => s.label).join(', ')} ({unit})
      </title>
      <text x={4} y={14} fontSize={11} fill="#52606d">
        {max.toFixed(max < 10 ? 1 : 0)} {unit}
      </text>
      <text x={4} y={h - 6} fontSize={11} fill="#52606d">
        0
      </text>
      {series.map((s, k) => (
        <g key={String(s.key)}>
          <polyline
            fill="none"
            stroke={s.color}
            strokeWidth={2}
            points={points.map((p, i) => `${x(i)},${y(Number(p[s.key]))}`).join(' ')}
          />
          <text x={w - 150 + k * 75} y={14} fontSize={11} fill={s.color}>
            {s.label}
          </text>
        </g>
      ))}
    </svg>
  )
}

/** Where the dashboard keeps the admin token: this tab only, gone when it closes. */
const TOKEN_KEY = 'signalsloop:admin-token'

/** The admin API answered 401: the token is missing or wrong. */
class Unauthorized extends Error {}

/** Asks for the admin token (TIERBUS_ADMIN_TOKEN on the server); the dashboard sends it as a Bearer token. */
function TokenForm({ onToken, rejected }: { onToken: (token: string) => void; rejected: boolean }) {
  const [value, setValue] = useState('')
  function submit(event: FormEvent) {
    event.preventDefault()
    if (value) onToken(value)
  }
  return (
    <main>
      <h1>Events dashboard</h1>
      <form onSubmit={submit} style={{ display: 'flex', gap: '0.5rem' }}>
        <label>
          Admin token{' '}
          <input
            data-testid="admin-token"
            type="password"
            autoComplete="current-password"
            value={value}
            onChange={(e) => setValue(e.target.value)}
          />
        </label>
        <button data-testid="admin-token-submit" type="submit">
          Open
        </button>
      </form>
      {rejected ? <p data-testid="admin-token-rejected">That token was refused.</p> : null}
    </main>
  )
}

export default function Dashboard() {
  // Read after mount (sessionStorage is browser-only), so the token form appears once the page is interactive.
  const [mounted, setMounted] = useState(false)
  const [token, setToken] = useState<string | null>(null)
  const [rejected, setRejected] = useState(false)
  const [metrics, setMetrics] = useState<Metrics | null>(null)
  const [points, setPoints] = useState<Point[]>([])
  const [dead, setDead] = useState<DeadLetter[]>([])
  const [live, setLive] = useState<LiveEvent[]>([])

  useEffect(() => {
    setToken(sessionStorage.getItem(TOKEN_KEY))
    setMounted(true)
  }, [])

  /** Calls an admin route with the token; JSON bodies go as application/json (the routes refuse anything else). */
  const admin = useCallback(
    async <T,>(path: string, init: { method?: string; body?: unknown } = {}): Promise<T> => {
      const res = await fetch(path, {
        method: init.method ?? 'GET',
        cache: 'no-store',
        headers: {
          authorization: `Bearer ${token}`,
          ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
      })
      if (res.status === 401) throw new Unauthorized()
      if (!res.ok) throw new Error(`${path}: ${res.status}`)
      return (await res.json()) as T
    },
    [token],
  )

  const signOut = useCallback(() => {
    sessionStorage.removeItem(TOKEN_KEY)
    setToken(null)
    setRejected(true)
  }, [])

  const refresh = useCallback(async () => {
    const [m, d] = await Promise.all([
      admin<Metrics>('/api/events/metrics'),
      admin<{ deadLetters: DeadLetter[] }>('/api/events/dlq'),
    ])
    setMetrics(m)
    setDead(d.deadLetters)
    setPoints((prev) =>
      [
        ...prev,
        {
          t: Date.now(),
          rate: m.eventVolume.perSecond,
          acked: m.eventVolume.handled,
          p50: m.latency.endToEndMs.p50,
          p99: m.latency.endToEndMs.p99,
        },
      ].slice(-60),
    )
  }, [admin])

  // No polling while nothing happens: the live feed (/api/events/stream, Server-Sent Events) says when something
  // did. Metrics are refreshed once a second from the first event until ACTIVE_MS after the last one (retries,
  // dead letters and lag settle meanwhile), then the dashboard waits for the next event.
  useEffect(() => {
    if (!token) return
    const tick = () => void refresh().catch((err: unknown) => (err instanceof Unauthorized ? signOut() : undefined))
    let activeUntil = 0
    let timer: ReturnType<typeof setInterval> | undefined
    const onEvent = () => {
      activeUntil = Date.now() + ACTIVE_MS
      if (timer) return
      tick()
      timer = setInterval(() => {
        tick()
        if (Date.now() < activeUntil) return
        clearInterval(timer)
        timer = undefined
      }, 1_000)
    }
    // The `eventsource` package's EventSource: the browser's own cannot send the Authorization header.
    const source = new EventSource('/api/events/stream', {
      fetch: (input, init) =>
        fetch(input, { ...init, headers: { ...init?.headers, authorization: `Bearer ${token}` } }),
    })
    source.onmessage = (message) => {
      setLive((prev) => [JSON.parse(message.data) as LiveEvent, ...prev].slice(0, 20))
      onEvent()
    }
    source.addEventListener('tierbus.resync', tick)
    source.onerror = (error) => {
      if (error.code === 401) signOut()
    }
    tick()
    return () => {
      source.close()
      clearInterval(timer)
    }
  }, [token, refresh, signOut])

  async function redrive(id: string) {
    await admin('/api/events/dlq', { method: 'POST', body: { ids: [id] } })
    await refresh()
  }

  if (!mounted) return <p>loading…</p>
  if (!token) {
    return (
      <TokenForm
        rejected={rejected}
        onToken={(t) => {
          sessionStorage.setItem(TOKEN_KEY, t)
          setRejected(false)
          setToken(t)
        }}
      />
    )
  }
  if (!metrics) return <p>loading…</p>
  const r = metrics.recommendation
  return (
    <main>
      <h1>Events dashboard</h1>
      <p>
        Tier: <strong data-testid="tier">{metrics.transport}</strong> · migration phase:{' '}
        <strong data-testid="migration-phase">{metrics.migration ? metrics.migration.phase : 'none'}</strong> ·
        published <strong data-testid="published">{metrics.eventVolume.published}</strong> · handled{' '}
        <strong data-testid="handled">{metrics.eventVolume.handled}</strong> · error rate{' '}
        {(metrics.errorRate * 100).toFixed(1)}% · DLQ <strong data-testid="dlq-count">{metrics.dlqCount}</strong>
      </p>
      <p data-testid="advisor">
        Advisor:{' '}
        <strong>
          {r.action === 'stay'
            ? `stay on ${r.recommendedTier}`
            : r.action === 'watch'
              ? `watch (may need ${r.recommendedTier})`
              : `migrate to ${r.recommendedTier}`}
        </strong>{' '}
        — {r.reasons.join('; ')}
      </p>
      <div style={{ display: 'flex', gap: '1rem', flexWrap: 'wrap' }}>
        <div>
          <h3>Throughput (events/s, 10 s window)</h3>
          <Chart
            testId="throughput-chart"
            points={points}
            unit="ev/s"
            series={[{ key: 'rate', color: '#2680c2', label: 'published' }]}
          />
        </div>
        <div>
          <h3>End-to-end latency (ms)</h3>
          <Chart
            testId="latency-chart"
            points={points}
            unit="ms"
            series={[
              { key: 'p50', color: '#3ebd93', label: 'p50' },
              { key: 'p99', color: '#e12d39', label: 'p99' },
            ]}
          />
        </div>
      </div>
      <h3>Consumer groups</h3>
      <table data-testid="groups" cellPadding={4} style={{ borderCollapse: 'collapse' }}>
        <thead>
          <tr>
            <th align="left">group</th>
            <th align="left">patterns</th>
            <th>handled</th>
            <th>retried</th>
            <th>dead-lettered</th>
            <th>lag</th>
          </tr>
        </thead>
        <tbody>
          {Object.entries(metrics.groups).map(([name, g]) => (
            <tr key={name} data-testid={`group-${name}`}>
              <td>{name}</td>
              <td>{g.patterns.join(', ')}</td>
              <td align="right">{g.acked}</td>
              <td align="right">{g.retried}</td>
              <td align="right">{g.deadLettered}</td>
              <td align="right" data-testid={`lag-${name}`}>
                {g.lag}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <h3>Live events</h3>
      {live.length === 0 ? (
        <p data-testid="live-empty">waiting for events…</p>
      ) : (
        <ul data-testid="live">
          {live.map((e) => (
            <li key={e.id}>
              {e.time} {e.type} {JSON.stringify(e.data)}
            </li>
          ))}
        </ul>
      )}
      <h3>Dead letters</h3>
      {dead.length === 0 ? (
        <p data-testid="dlq-empty">none</p>
      ) : (
        <table data-testid="dlq" cellPadding={4}>
          <thead>
            <tr>
              <th align="left">group</th>
              <th align="left">event</th>
              <th align="left">reason</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {dead.map((d) => (
              <tr key={d.id} data-testid="dlq-row">
                <td>{d.group}</td>
                <td>
                  {d.envelope?.type} {JSON.stringify(d.envelope?.data)}
                </td>
                <td>
                  {d.reason.kind} after {d.reason.attempts}: {d.reason.error}
                </td>
                <td>
                  <button type="button" data-testid="redrive" onClick={() => void redrive(d.id)}>
                    Redrive
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </main>
  )
}
