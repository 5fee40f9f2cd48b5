/**
 * SSE gateway benchmark: BENCH_SSE_CLIENTS (default 1,000) concurrent Server-Sent Events clients on one
 * `next start` of examples/nextjs-app (memory tier, its streamRoute at /api/events/stream), events published
 * through the app's POST /api/feedback at a fixed rate; measured: events/s delivered to all clients together and
 * publish→client latency (from just before the publishing POST to the client parsing the message).
 * Baseline, same run, same clients and publisher: a minimal node:http SSE server (bench/sse-raw-server.ts).
 * Run: npm run build -w @tierbus/example-nextjs-app (once), then npm run bench:sse
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { type ClientRequest, get as httpGet } from 'node:http'
import { loadavg } from 'node:os'
import { fileURLToPath } from 'node:url'
import { LatencyHistogram } from '@tierbus/core'
import { freePort } from '@tierbus/core/testing'
import { fmt, machineLine, table, writeBenchSection } from './report.js'

const CLIENTS = Number(process.env.BENCH_SSE_CLIENTS ?? 1_000)
/** Publish rates (events/s) to run, each against both servers: a light one, and one that loads them. */
const RATES = (process.env.BENCH_SSE_RATES ?? '5,20').split(',').map(Number)
const SECONDS = Number(process.env.BENCH_SSE_SECONDS ?? 10)
const root = fileURLToPath(new URL('..', import.meta.url))
const appDir = `${root}examples/nextjs-app`
const ADMIN_TOKEN = `bench-${process.pid}`

interface Target {
  readonly name: string
  readonly streamUrl: string
  readonly publishUrl: string
  readonly headers: Record<string, string>
  stop(): Promise<void>
}

interface Result {
  readonly connected: number
  readonly delivered: number
  /** Publishing POSTs that failed or did not answer 201 (their events cannot arrive). */
  readonly failedPublishes: number
  readonly perSecond: number
  readonly latency: LatencyHistogram
}

/** Starts a server process and resolves once `ready(url)` answers. */
async function startProcess(
  command: string,
  args: string[],
  cwd: string,
  env: Record<string, string>,
  ready: () => Promise<boolean>,
): Promise<() => Promise<void>> {
  const child: ChildProcess = spawn(command, args, {
    cwd,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout?.on('data', (d: Buffer) => (output += d))
  child.stderr?.on('data', (d: Buffer) => (output += d))
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise((r) => child.once('exit', r))
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
    await exited
    clearTimeout(timer)
  }
  const deadline = Date.now() + 60_000
  while (!(await ready().catch(() => false))) {
    if (child.exitCode !== null) throw new Error(`${command} exited (${child.exitCode}):\n${output}`)
    if (Date.now() > deadline) throw new Error(`${command} did not start within 60 s:\n${output}`)
    await new Promise((r) => setTimeout(r, 200))
  }
  return stop
}

async function tierbusApp(): Promise<Target> {
  if (!existsSync(`${appDir}/.next/BUILD_ID`))
    throw new Error('build the example app first: npm run build -w @tierbus/example-nextjs-app')
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const env = {
    NODE_ENV: 'production',
    NEXT_TELEMETRY_DISABLED: '1',
    TIERBUS_TRANSPORT: 'memory',
    TIERBUS_ADMIN_TOKEN: ADMIN_TOKEN,
  }
  const next = `${root}node_modules/next/dist/bin/next`
  const stop = await startProcess(
    process.execPath,
    [next, 'start', '-p', String(port), '-H', '127.0.0.1'],
    appDir,
    env,
    async () => (await fetch(`${url}/api/feedback`)).ok,
  )
  return {
    name: 'tierbus streamRoute on next start',
    streamUrl: `${url}/api/events/stream`,
    publishUrl: `${url}/api/feedback`,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    stop,
  }
}

async function rawServer(): Promise<Target> {
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const stop = await startProcess(
    process.execPath,
    ['--import', 'tsx', `${root}bench/sse-raw-server.ts`, String(port)],
    root,
    {},
    async () => (await fetch(`${url}/nothing`)).status === 404,
  )
  return {
    name: 'raw node:http SSE server',
    streamUrl: `${url}/stream`,
    publishUrl: `${url}/publish`,
    headers: {},
    stop,
  }
}

/** Opens CLIENTS streams, publishes `rate` events/s for SECONDS, and counts what every client parsed and when. */
async function load(target: Target, rate: number): Promise<Result> {
  const events = rate * SECONDS
  const sentAt = new Float64Array(events)
  const latency = new LatencyHistogram()
  let delivered = 0
  let lastDelivery = 0
  let failedPublishes = 0
  const requests: ClientRequest[] = []
  let closing = false
  // node:http clients, parsing only what the bench needs (the `bench <seq>` marker of each message): the
  // clients share the machine with the server, so their own cost is kept small.
  const open = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const req = httpGet(target.streamUrl, { headers: target.headers, agent: false }, (res) => {
        if (res.statusCode !== 200) return reject(new Error(`${target.name}: stream answered ${res.statusCode}`))
        res.setEncoding('utf8')
        let tail = ''
        res.on('data', (chunk: string) => {
          const text = tail + chunk
          const end = text.lastIndexOf('\n\n')
          if (end < 0) {
            tail = text
            return
          }
          tail = text.slice(end + 2)
          const now = performance.now()
          for (const [, seq] of text.slice(0, end).matchAll(/bench (\d+)/g)) {
            latency.record(now - (sentAt[Number(seq)] ?? now))
            delivered++
          }
          lastDelivery = now
        })
        resolve()
      })
      req.on('error', (err) => (closing ? undefined : reject(err)))
      requests.push(req)
    })
  for (let i = 0; i < CLIENTS; i += 50) await Promise.all(Array.from({ length: Math.min(50, CLIENTS - i) }, open))
  const started = performance.now()
  for (let seq = 0; seq < events; seq++) {
    const due = started + (seq * 1000) / rate
    const wait = due - performance.now()
    if (wait > 0) await new Promise((r) => setTimeout(r, wait))
    sentAt[seq] = performance.now()
    void fetch(target.publishUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text: `bench ${seq}` }),
    })
      .then(async (r) => {
        await r.arrayBuffer()
        if (r.status !== 201) failedPublishes++
      })
      .catch(() => failedPublishes++)
  }
  const expected = CLIENTS * events
  const deadline = performance.now() + 30_000
  while (delivered < expected && performance.now() < deadline) await new Promise((r) => setTimeout(r, 100))
  closing = true
  for (const req of requests) req.destroy()
  return {
    connected: requests.length,
    delivered,
    failedPublishes,
    perSecond: delivered / ((lastDelivery - started) / 1000),
    latency,
  }
}

async function measure(start: () => Promise<Target>, rate: number): Promise<Result & { name: string; rate: number }> {
  const target = await start()
  try {
    return { name: target.name, rate, ...(await load(target, rate)) }
  } finally {
    await target.stop()
  }
}

const results: Array<Result & { name: string; rate: number }> = []
for (const rate of RATES) results.push(await measure(rawServer, rate), await measure(tierbusApp, rate))
const row = (r: Result & { name: string; rate: number }) => [
  r.name,
  `${r.rate}/s`,
  `${fmt(r.delivered)} / ${fmt(CLIENTS * r.rate * SECONDS)}`,
  fmt(r.failedPublishes),
  fmt(r.perSecond),
  fmt(r.latency.quantile(0.5), 1),
  fmt(r.latency.quantile(0.99), 1),
]
const HEADER = ['server', 'publish rate', 'delivered', 'failed publishes', 'events/s delivered', 'p50 ms', 'p99 ms']
const ratios = RATES.map((rate) => {
  const [raw, tierbus] = results.filter((r) => r.rate === rate)
  if (!raw || !tierbus) return ''
  const p99 = tierbus.latency.quantile(0.99) / Math.max(0.001, raw.latency.quantile(0.99))
  return `- at ${rate}/s: events/s delivered ${fmt(tierbus.perSecond / raw.perSecond, 2)}, p99 latency ${fmt(p99, 1)}×`
})
const markdown = `## SSE to browsers: streamRoute on next start (bench/sse.ts)

${machineLine()}, load average ${loadavg()[0]?.toFixed(1)} at the end (the machine is shared).
${fmt(CLIENTS)} concurrent SSE clients (node:http connections reading the SSE frames, in the bench's own process on
the same machine), events published by POST requests at each rate for ${SECONDS} s: to examples/nextjs-app's
/api/feedback under \`next start\` (memory tier; each event goes through the route, the bus, the app's two
agents and the streamRoute at /api/events/stream, authorized by Bearer token), and to a minimal node:http SSE
server that writes each POST to every connection (no framework, no bus, no auth). Latency runs from just before
the publishing POST to the client reading the message; events/s delivered counts messages over all clients, from
the first publish to the last delivery (deliveries stop being waited for 30 s after the last publish).

${table(HEADER, results.map(row))}

Ratio tierbus / raw:
${ratios.join('\n')}

A row that delivered less than was published ran out of CPU (server and clients share the machine): its events/s
is the ceiling it reached and its latency is mostly queueing.
`
console.log(markdown)
writeBenchSection('sse', markdown)
