import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { fileURLToPath } from 'node:url'

/** docs/benchmarks.md, where every bench script writes its own delimited section. */
export const BENCHMARKS_MD = fileURLToPath(new URL('../docs/benchmarks.md', import.meta.url))

const HEADER = `# Benchmarks

Each section is written by a script in \`bench/\` (run them all with \`npm run bench\`, or one with
\`npm run bench:<tier>\`). Every script measures tierbus and the raw client on the same service in the
same run and reports the ratio, so the figures say what tierbus costs, not how fast this machine is.
`

/** Replaces (or appends) the section between `<!-- bench:<name>:start -->` and `<!-- bench:<name>:end -->`. */
export function writeBenchSection(name: string, markdown: string): void {
  const start = `<!-- bench:${name}:start -->`
  const end = `<!-- bench:${name}:end -->`
  const block = `${start}\n${markdown.trim()}\n${end}`
  let doc = existsSync(BENCHMARKS_MD) ? readFileSync(BENCHMARKS_MD, 'utf8') : HEADER
  const from = doc.indexOf(start)
  const to = doc.indexOf(end)
  doc =
    from >= 0 && to > from ? doc.slice(0, from) + block + doc.slice(to + end.length) : `${doc.trimEnd()}\n\n${block}\n`
  writeFileSync(BENCHMARKS_MD, doc)
  // Aligned as `npm run lint` wants it (Biome formats Markdown tables), so a bench run never breaks CI.
  const biome = fileURLToPath(new URL('../node_modules/.bin/biome', import.meta.url))
  spawnSync(biome, ['format', '--write', BENCHMARKS_MD], { stdio: 'ignore' })
}

/** The 1-minute load average now and its meaning on this machine, e.g. "load average 1.2 over 2 cores". */
export function loadNote(): string {
  return `load average ${loadavg()[0]?.toFixed(1)} over ${cpus().length} cores`
}

/** One line describing the machine and runtime, for the top of a section. */
export function machineLine(): string {
  return `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'cpu'}, Node ${process.version}, ${new Date().toISOString().slice(0, 10)}`
}

/** The q-quantile (0..1) of unsorted samples. */
export function quantile(samples: readonly number[], q: number): number {
  if (samples.length === 0) return 0
  const sorted = [...samples].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!
}

/** The median of a few repeated measurements. */
export function median(values: readonly number[]): number {
  return quantile(values, 0.5)
}

/** Formats a number with thousands separators and `digits` decimals. */
export function fmt(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
}

/** A Markdown table from a header row and rows. */
export function table(header: readonly string[], rows: ReadonlyArray<readonly (string | number)[]>): string {
  const line = (cells: readonly (string | number)[]) => `| ${cells.join(' | ')} |`
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n')
}

/** A horizontal bar chart in text (monospace), for throughput comparisons in Markdown. */
export function bars(rows: ReadonlyArray<readonly [string, number]>, unit: string, width = 40): string {
  const max = Math.max(...rows.map(([, v]) => v), 1)
  const label = Math.max(...rows.map(([l]) => l.length))
  return [
    '```',
    ...rows.map(
      ([l, v]) =>
        `${l.padEnd(label)} ${'█'.repeat(Math.max(1, Math.round((v / max) * width))).padEnd(width)} ${fmt(v)} ${unit}`,
    ),
    '```',
  ].join('\n')
}

/** `runs` rounds of `raw` and `tierbus`, swapping which goes first every round; each side's results in round order. */
async function alternate<T>(
  raw: () => Promise<T>,
  tierbus: () => Promise<T>,
  runs: number,
): Promise<{ raws: T[]; tbs: T[] }> {
  const raws: T[] = []
  const tbs: T[] = []
  for (let r = 0; r < runs; r++) {
    if (r % 2 === 0) raws.push(await raw())
    tbs.push(await tierbus())
    if (r % 2 === 1) raws.push(await raw())
  }
  return { raws, tbs }
}

/** Raw and tierbus measured in alternating rounds: their medians and the median of the per-round ratios. */
export interface Paired {
  readonly raw: number
  readonly tierbus: number
  /** Median of tierbus / raw over the rounds (each round's pair ran back to back). */
  readonly ratio: number
  readonly ratios: readonly number[]
}

/**
 * Runs `raw` and `tierbus` (each returns events/s) once each as a warm-up, then `runs` rounds of both,
 * swapping which goes first every round, so drift on a shared machine hits both alike. Comparing the
 * median of all raw runs with the median of all tierbus runs taken minutes apart measured mostly the
 * neighbours; a per-round ratio compares runs seconds apart.
 */
export async function paired(
  raw: () => Promise<number>,
  tierbus: () => Promise<number>,
  runs: number,
): Promise<Paired> {
  await raw()
  await tierbus()
  const { raws, tbs } = await alternate(raw, tierbus, runs)
  const ratios = tbs.map((t, i) => t / (raws[i] ?? Number.NaN))
  return { raw: median(raws), tierbus: median(tbs), ratio: median(ratios), ratios }
}

/** Percentiles of one latency run, ms. */
export interface LatencyRun {
  readonly p50: number
  readonly p99: number
  readonly max: number
  readonly count: number
}

/** Raw and tierbus latency runs, alternating: the median p50 and p99 over the runs, the largest max. */
export interface PairedLatency {
  readonly raw: LatencyRun
  readonly tierbus: LatencyRun
  /** Each run's p99 in the order run: raw, then tierbus. */
  readonly rawP99s: readonly number[]
  readonly tierbusP99s: readonly number[]
}

/** p50, p99 and max of one run's samples. */
export function latencyRun(samples: readonly number[]): LatencyRun {
  return { p50: quantile(samples, 0.5), p99: quantile(samples, 0.99), max: quantile(samples, 1), count: samples.length }
}

/**
 * Runs `runs` latency runs of raw and of tierbus (each returns its publish→handler latencies), alternating
 * which goes first. One run's p99 at 1,000 events/s for 5 s is its 50th-worst sample, so a single stall of
 * a few ms on a shared machine (seen here in bursts, hitting raw and tierbus alike) decides it: the median
 * of per-run p99s over interleaved runs compares the two under the same conditions.
 */
export async function pairedLatency(
  raw: () => Promise<readonly number[]>,
  tierbus: () => Promise<readonly number[]>,
  runs: number,
): Promise<PairedLatency> {
  const runOf = (run: () => Promise<readonly number[]>) => async () => latencyRun(await run())
  const { raws, tbs } = await alternate(runOf(raw), runOf(tierbus), runs)
  const summary = (xs: readonly LatencyRun[]): LatencyRun => ({
    p50: median(xs.map((x) => x.p50)),
    p99: median(xs.map((x) => x.p99)),
    max: Math.max(...xs.map((x) => x.max)),
    count: xs.reduce((n, x) => n + x.count, 0),
  })
  return {
    raw: summary(raws),
    tierbus: summary(tbs),
    rawP99s: raws.map((x) => x.p99),
    tierbusP99s: tbs.map((x) => x.p99),
  }
}

/** The figures of one bench run that `bench/runs.ts` collects, printed as one `BENCH-SUMMARY {json}` line. */
export interface BenchSummary {
  readonly tier: string
  /** tierbus / raw, per path (e.g. publish, consume). */
  readonly ratios: Readonly<Record<string, number>>
  /** tierbus / raw ratios shown for reference, with no aim (e.g. against a raw client tuned like tierbus). */
  readonly reference?: Readonly<Record<string, number>>
  /** End-to-end p99 ms of tierbus and of the raw client, when the bench measures both. */
  readonly p99?: { readonly tierbus: number; readonly raw?: number }
  /** Other figures worth tracking across runs (events/s and the like). */
  readonly figures?: Readonly<Record<string, number>>
}

/** Prints the machine-readable summary line of a bench run (read by bench/runs.ts). */
export function printSummary(summary: BenchSummary): void {
  console.log(`BENCH-SUMMARY ${JSON.stringify({ ...summary, load: loadavg()[0] })}`)
}
