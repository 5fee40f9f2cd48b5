/**
 * Runs every tier's bench several times (default 3, one tier after another, set after set) and writes
 * the "Ratios in three runs" section of docs/benchmarks.md: each run's tierbus/raw ratios and end-to-end
 * p99s side by side, with the aims. A single run on a shared machine can land on either side of an aim;
 * the issue asks for the aims to hold in every run, so every run is reported, not the best.
 * Each bench prints one `BENCH-SUMMARY {json}` line (bench/report.ts printSummary), read here.
 * Env: BENCH_SETS (runs per tier, default 3), BENCH_TIERS (comma list, default all).
 * Run: npm run bench:runs
 */
import { spawnSync } from 'node:child_process'
import { cpus } from 'node:os'
import { type BenchSummary, fmt, machineLine, table, writeBenchSection } from './report.js'

const SETS = Number(process.env.BENCH_SETS ?? 3)
/** The bench of each tier, and the environment that limits it to what this report reads. */
const BENCHES: Record<string, { script: string; env?: Record<string, string> }> = {
  memory: { script: 'bench/memory.ts', env: { BENCH_RUNS: '3' } },
  // Publish ratios and push latency only; the seed peak, PGlite and ordered runs are in the db section.
  db: { script: 'bench/db.ts', env: { BENCH_ONLY: 'publish,latency', BENCH_DESIGNS: 'fan-out' } },
  redis: { script: 'bench/redis.ts' },
  nats: { script: 'bench/nats.ts' },
  sqs: { script: 'bench/sqs.ts' },
  amqp: { script: 'bench/amqp.ts' },
}
const tiers = (process.env.BENCH_TIERS ?? Object.keys(BENCHES).join(',')).split(',')
for (const t of tiers) if (!BENCHES[t]) throw new Error(`unknown tier ${t}: use ${Object.keys(BENCHES).join(', ')}`)

interface Run {
  readonly summary: BenchSummary & { readonly load?: number }
  readonly seconds: number
}

function runOnce(tier: string): Run {
  const bench = BENCHES[tier]!
  const t0 = performance.now()
  const out = spawnSync(process.execPath, ['--conditions=tierbus-source', '--import', 'tsx', bench.script], {
    env: { ...process.env, ...bench.env },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 64 * 1024 * 1024,
  })
  process.stdout.write(out.stdout)
  const line = out.stdout.split('\n').find((l) => l.startsWith('BENCH-SUMMARY '))
  if (out.status !== 0 || !line)
    throw new Error(`${bench.script} failed (exit ${out.status}) or printed no BENCH-SUMMARY`)
  return { summary: JSON.parse(line.slice('BENCH-SUMMARY '.length)), seconds: (performance.now() - t0) / 1000 }
}

const results = new Map<string, Run[]>(tiers.map((t) => [t, []]))
for (let set = 1; set <= SETS; set++) {
  for (const tier of tiers) {
    console.log(`\n== run ${set} of ${SETS}: ${tier}`)
    results.get(tier)!.push(runOnce(tier))
  }
}

/** One row per figure: its value in each run and whether the aim held in all of them. */
type Row = [string, string, ...string[]]
const rows: Row[] = []
const runCols = Array.from({ length: SETS }, (_, i) => `run ${i + 1}`)
const all = (ok: boolean[]) =>
  ok.every(Boolean) ? `met ${ok.length}/${ok.length}` : `**not met** (${ok.filter(Boolean).length}/${ok.length})`
for (const [tier, runs] of results) {
  const first = runs[0]!.summary
  for (const path of Object.keys(first.ratios)) {
    const v = runs.map((r) => r.summary.ratios[path] ?? Number.NaN)
    rows.push([`${tier}: ${path} ratio`, '≥ 0.9', ...v.map((x) => fmt(x, 2)), all(v.map((x) => x >= 0.9))] as Row)
  }
  for (const path of Object.keys(first.reference ?? {})) {
    const v = runs.map((r) => r.summary.reference?.[path] ?? Number.NaN)
    rows.push([`${tier}: ${path} ratio`, '(reference)', ...v.map((x) => fmt(x, 2)), ''] as Row)
  }
  if (first.p99?.raw !== undefined) {
    const v = runs.map((r) => r.summary.p99!)
    rows.push([
      `${tier}: e2e p99 ms, tierbus / raw`,
      '≤ 2× raw',
      ...v.map((p) => `${fmt(p.tierbus, 1)} / ${fmt(p.raw ?? Number.NaN, 1)}`),
      all(v.map((p) => p.tierbus <= 2 * (p.raw ?? 0))),
    ] as Row)
  } else if (first.p99) {
    const aim = tier === 'db' ? 20 : undefined
    const v = runs.map((r) => r.summary.p99!.tierbus)
    rows.push([
      `${tier}: e2e p99 ms${tier === 'db' ? ' (push, commit→handler)' : ''}`,
      aim ? `< ${aim}` : '(no raw e2e)',
      ...v.map((x) => fmt(x, 1)),
      aim ? all(v.map((x) => x < aim)) : '',
    ] as Row)
  }
  for (const name of Object.keys(first.figures ?? {})) {
    const v = runs.map((r) => r.summary.figures?.[name] ?? Number.NaN)
    const aim = /one at a time/.test(name) ? 500_000 : /batched/.test(name) ? 1_000_000 : undefined
    rows.push([
      `${tier}: ${name}`,
      aim ? `≥ ${fmt(aim)}` : '',
      ...v.map((x) => fmt(x)),
      aim ? all(v.map((x) => x >= aim)) : '',
    ] as Row)
  }
}
const loads = [...results.values()].flat().map((r) => r.summary.load ?? 0)
const minutes = [...results.values()].flat().reduce((s, r) => s + r.seconds, 0) / 60

writeBenchSection(
  'runs',
  `## Ratios in ${SETS} runs (bench/runs.ts)

${machineLine()}. \`npm run bench:runs\` ran each tier's bench ${SETS} times (${tiers.join(', ')}; set after set, ${fmt(minutes, 0)} min
in all); the 1-minute load average at the end of a bench ranged ${fmt(Math.min(...loads), 1)}–${fmt(Math.max(...loads), 1)} over
${cpus().length} cores. Every run is listed, not the best: an aim counts as met only when it held in each run.
Ratios are tierbus / raw client on the same service in the same run (each bench alternates raw and tierbus rounds
and takes the median of the per-round ratios); the sections below hold the details of each bench's last run.

${table(['figure', 'aim', ...runCols, 'verdict'], rows)}`,
)
console.log('\nwrote the runs section of docs/benchmarks.md')
