import { readFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { ConfigError, createBusFromEnv, type Env, redactSecrets, TierbusError, transportFromEnv } from '@tierbus/core'
import {
  type AdvisedTier,
  adviseTier,
  backfill,
  formatPlan,
  isHistorySource,
  migrationStoreFromEnv,
  nextPhase,
  PHASE_BEHAVIOUR,
  parseMigration,
  parseProfile,
  planCapacity,
  previousPhase,
  progressBar,
  TIER_LADDER,
  type Workload,
  workloadFromMetrics,
} from '@tierbus/migrator'

/** Where the CLI writes; tests pass their own. */
export interface CliIo {
  out(text: string): void
  err(text: string): void
  env: Env
  /** stderr is a terminal: progress bars redraw in place instead of printing lines. */
  tty?: boolean
}

const USAGE = `usage: tierbus <command> [options]

commands:
  plan <profile.yaml> [--json | --routes]
                                        capacity plan, monthly cost per option (Amazon MQ, EventBridge +
                                        SQS/SNS, MSK and every tier) and a recommended route table;
                                        --routes prints only the TIERBUS_ROUTES value
                                        (profiles: see @tierbus/migrator/profiles)
  advise --current <tier> [--metrics <file.json>] [--events-per-day N] [--latency-ms N]
         [--agents N] [--multi-region] [--guaranteed-delivery] [--production] [--json]
                                        which tier to be on, with reasons
  dlq list [--group G] [--limit N] [--json]
  dlq redrive (<id>... | --all) [--group G]
                                        dead letters of the tier TIERBUS_TRANSPORT names
  db migrate|sql [--schema S]           apply (or print) the db-realtime tier's SQL migrations (DATABASE_URL)
  backfill [--from <time>] [--to <time>] [--pattern <p>] [--batch N] [--json]
                                        copy history from the db tier (TIERBUS_MIGRATION's source) to its target
  migrate status|advance|rollback [--json]
                                        the phase of TIERBUS_MIGRATION in TIERBUS_MIGRATION_STORE;
                                        running apps follow a change within TIERBUS_MIGRATION_POLL_MS
tiers for --current: ${[...TIER_LADDER, 'nats'].join(', ')} (or a TIERBUS_TRANSPORT value: postgres, redis, sqs, ...)`

/** The advisor's tier for each TIERBUS_TRANSPORT value, so `--current postgres` works as `--current db-realtime`. */
const TIER_OF_TRANSPORT: Readonly<Record<string, AdvisedTier>> = Object.freeze({
  memory: 'memory',
  postgres: 'db-realtime',
  pglite: 'db-realtime',
  supabase: 'db-realtime',
  redis: 'redis-streams',
  upstash: 'redis-streams',
  sqs: 'sqs-sns',
  nats: 'nats',
})

/** Runs one CLI invocation; returns the exit code (0 ok, 1 failure, 2 usage). */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const [command, ...rest] = argv
  try {
    switch (command) {
      case 'plan':
        return await plan(rest, io)
      case 'advise':
        return await advise(rest, io)
      case 'dlq':
        return await dlq(rest, io)
      case 'migrate':
        return await migrate(rest, io)
      case 'db':
        return await db(rest, io)
      case 'backfill':
        return await runBackfill(rest, io)
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        io.out(USAGE)
        return command === undefined ? 2 : 0
      default:
        io.err(`tierbus: unknown command '${command}'\n\n${USAGE}`)
        return 2
    }
  } catch (err) {
    if (err instanceof TierbusError) {
      io.err(`tierbus ${command}: ${err.message}`)
      return err instanceof ConfigError ? 2 : 1
    }
    if ((err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.err(`tierbus ${command}: ${redactSecrets((err as Error).message)}\n\n${USAGE}`)
      return 2
    }
    throw err
  }
}

async function plan(args: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...args],
    allowPositionals: true,
    options: { json: { type: 'boolean' }, routes: { type: 'boolean' } },
  })
  const [file] = positionals
  if (positionals.length !== 1 || file === undefined)
    throw new ConfigError('plan needs one profile file, e.g. tierbus plan profiles/mistersmith.yaml')
  if (values.json && values.routes)
    throw new ConfigError('plan takes --json or --routes, not both (the JSON holds the routes under routes.env)')
  const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new ConfigError(`cannot read ${file}: ${err.code ?? err.message}`)
  })
  const result = planCapacity(parseProfile(text))
  io.out(values.json ? JSON.stringify(result, null, 2) : values.routes ? result.routes.env : formatPlan(result))
  return 0
}

const numberOf = (value: string, flag: string): number => {
  const n = Number(value)
  if (!Number.isFinite(n) || n < 0)
    throw new ConfigError(`${flag} must be a non-negative number, got ${JSON.stringify(value)}`)
  return n
}
const number = (value: string | undefined, flag: string): number | undefined =>
  value === undefined ? undefined : numberOf(value, flag)

async function advise(args: readonly string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({
    args: [...args],
    options: {
      current: { type: 'string' },
      metrics: { type: 'string' },
      'events-per-day': { type: 'string' },
      'latency-ms': { type: 'string' },
      agents: { type: 'string' },
      'multi-region': { type: 'boolean' },
      'guaranteed-delivery': { type: 'boolean' },
      production: { type: 'boolean' },
      json: { type: 'boolean' },
    },
  })
  const tiers: readonly string[] = [...TIER_LADDER, 'nats']
  const current = values.current ? (TIER_OF_TRANSPORT[values.current] ?? values.current) : undefined
  if (!current || !tiers.includes(current)) {
    throw new ConfigError(
      `--current must be a tier (${tiers.join(', ')}) or a TIERBUS_TRANSPORT value (${Object.keys(TIER_OF_TRANSPORT).join(', ')})`,
    )
  }
  const requirements = {
    currentTier: current as AdvisedTier,
    ...(values['latency-ms'] !== undefined
      ? { latencyRequirementMs: numberOf(values['latency-ms'], '--latency-ms') }
      : {}),
    ...(values.agents !== undefined ? { agents: numberOf(values.agents, '--agents') } : {}),
    multiRegion: Boolean(values['multi-region']),
    guaranteedDeliverySla: Boolean(values['guaranteed-delivery']),
    production: Boolean(values.production),
  }
  let workload: Workload
  if (values.metrics) {
    const snapshot = JSON.parse(await readFile(values.metrics, 'utf8'))
    workload = workloadFromMetrics(snapshot, requirements)
  } else {
    const eventsPerDay = number(values['events-per-day'], '--events-per-day')
    if (eventsPerDay === undefined)
      throw new ConfigError('advise needs --metrics <snapshot.json> (from bus.metrics()) or --events-per-day N')
    workload = { ...requirements, eventsPerDay }
  }
  const verdict = adviseTier(workload)
  if (values.json) io.out(JSON.stringify(verdict, null, 2))
  else {
    const verb = { stay: 'stay on', migrate: 'migrate to', watch: 'watch: may need' }[verdict.action]
    io.out(`${verb} ${verdict.recommendedTier}${verdict.action === 'stay' ? '' : ` (from ${verdict.currentTier})`}`)
    for (const r of verdict.reasons) io.out(`  - ${r}`)
  }
  return 0
}

async function dlq(args: readonly string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      group: { type: 'string' },
      limit: { type: 'string' },
      all: { type: 'boolean' },
      json: { type: 'boolean' },
    },
  })
  if (sub !== 'list' && sub !== 'redrive') throw new ConfigError("dlq needs 'list' or 'redrive'")
  // A fresh in-process memory bus has no dead letters: reading one would always say "none", silently.
  if (!io.env.TIERBUS_TRANSPORT && !io.env.TIERBUS_MIGRATION) {
    throw new ConfigError(
      `dlq reads the dead letters of your app's tier: set TIERBUS_TRANSPORT (and that tier's variables, e.g. REDIS_URL) as your app does`,
    )
  }
  if (io.env.TIERBUS_TRANSPORT === 'memory') {
    throw new ConfigError(
      'dlq cannot read a memory tier: its dead letters live inside the app process (use bus.deadLetters there, or the dead-letter route)',
    )
  }
  const bus = await createBusFromEnv({ env: io.env, source: io.env.TIERBUS_SOURCE ?? 'tierbus/cli' })
  try {
    const filter = { ...(values.group ? { group: values.group } : {}), limit: number(values.limit, '--limit') ?? 100 }
    if (sub === 'list') {
      const dead = await bus.deadLetters.list(filter)
      if (values.json) io.out(JSON.stringify(dead, null, 2))
      else if (dead.length === 0) io.out('no dead letters')
      else
        for (const d of dead)
          io.out(
            `${d.id}  ${d.failedAt}  ${d.group}  ${d.envelope?.type ?? '(undecodable)'}  ${d.reason.kind} after ${d.reason.attempts}: ${d.reason.error}`,
          )
      return 0
    }
    const ids = values.all ? (await bus.deadLetters.list({ ...filter, limit: 10_000 })).map((d) => d.id) : positionals
    if (ids.length === 0 && values.all) {
      io.out('nothing to redrive: no dead letters')
      return 0
    }
    if (ids.length === 0) throw new ConfigError('dlq redrive needs dead-letter ids (from dlq list) or --all')
    const n = await bus.deadLetters.redrive(ids)
    io.out(`redrove ${n} of ${ids.length} dead letter(s)`)
    return n === ids.length ? 0 : 1
  } finally {
    await bus.close()
  }
}

async function migrate(args: readonly string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args
  const { values } = parseArgs({ args: rest, options: { json: { type: 'boolean' } } })
  if (sub !== 'status' && sub !== 'advance' && sub !== 'rollback')
    throw new ConfigError("migrate needs 'status', 'advance' or 'rollback'")
  const name = io.env.TIERBUS_MIGRATION
  if (!name)
    throw new ConfigError(
      'set TIERBUS_MIGRATION (e.g. postgres->redis) and TIERBUS_MIGRATION_STORE (the redis:// or postgres:// URL your app uses)',
    )
  parseMigration(name)
  const store = await migrationStoreFromEnv(io.env)
  try {
    const stored = await store.readPhase(name)
    let phase = stored ?? 'source'
    if (sub !== 'status') {
      const to = sub === 'advance' ? nextPhase(phase) : previousPhase(phase)
      // Compare-and-set: if another advance/rollback moved the phase since we read it, nothing is written.
      if (!(await store.writePhase(name, to, stored))) {
        throw new ConfigError(
          `migration ${name}: the phase changed while this command ran (it is now ${(await store.readPhase(name)) ?? 'unset'}); check tierbus migrate status and run the command again if still needed`,
        )
      }
      phase = to
    }
    const history = await store.history(name)
    const behaviour = PHASE_BEHAVIOUR[phase]
    if (values.json) io.out(JSON.stringify({ migration: name, phase, behaviour, history }, null, 2))
    else {
      io.out(`${name}: ${phase}${sub === 'status' ? '' : ` (was ${history.at(-2)?.phase ?? 'source'})`}`)
      io.out(
        `  publishes to ${behaviour.publish.join(' then ')}; handlers run on ${behaviour.handle.join(' and ')}${behaviour.shadow ? '; the target is shadow-read' : ''}`,
      )
      for (const h of history) io.out(`  ${h.at}  ${h.phase}`)
    }
    return 0
  } finally {
    await store.close()
  }
}

async function db(args: readonly string[], io: CliIo): Promise<number> {
  let mod: { runMigrateCli?: (argv: readonly string[], env: CliIo['env']) => Promise<string> }
  try {
    mod = (await import('@tierbus/db-realtime')) as typeof mod
  } catch (err) {
    throw new ConfigError(
      `tierbus db needs the db tier: npm install @tierbus/db-realtime pg (${(err as Error).message})`,
    )
  }
  if (!mod.runMigrateCli)
    throw new ConfigError(
      'tierbus db needs @tierbus/db-realtime with runMigrateCli: update it to the version of @tierbus/cli',
    )
  io.out(await mod.runMigrateCli(args, io.env))
  return 0
}

async function runBackfill(args: readonly string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({
    args: [...args],
    options: {
      from: { type: 'string' },
      to: { type: 'string' },
      pattern: { type: 'string' },
      batch: { type: 'string' },
      json: { type: 'boolean' },
    },
  })
  const name = io.env.TIERBUS_MIGRATION
  if (!name)
    throw new ConfigError(
      "set TIERBUS_MIGRATION (e.g. postgres->redis) and both tiers' variables: backfill copies from its source to its target",
    )
  const { from, to } = parseMigration(name)
  for (const [flag, value] of [
    ['--from', values.from],
    ['--to', values.to],
  ] as const) {
    if (value !== undefined && Number.isNaN(Date.parse(value)))
      throw new ConfigError(`${flag} must be a date or RFC 3339 time, got ${JSON.stringify(value)}`)
  }
  const tierEnv = (kind: string): Env => ({ ...io.env, TIERBUS_TRANSPORT: kind, TIERBUS_MIGRATION: undefined })
  const source = await transportFromEnv(tierEnv(from))
  try {
    if (!isHistorySource(source))
      throw new ConfigError(`backfill reads history from the db tier, but TIERBUS_MIGRATION's source is ${from}`)
    const target = await transportFromEnv(tierEnv(to))
    try {
      let last = 0
      const result = await backfill({
        source,
        target,
        ...(values.from ? { from: values.from } : {}),
        ...(values.to ? { to: values.to } : {}),
        ...(values.pattern ? { pattern: values.pattern } : {}),
        ...(values.batch ? { batchSize: numberOf(values.batch, '--batch') } : {}),
        onProgress: (p) => {
          const now = Date.now()
          const finished = p.total !== undefined && p.copied >= p.total
          if (values.json || (now - last < 250 && !finished)) return
          last = now
          io.err(io.tty ? `\r${progressBar(p)}` : progressBar(p))
        },
      })
      if (io.tty && !values.json) io.err('\n')
      if (values.json) io.out(JSON.stringify({ migration: name, ...result }, null, 2))
      else
        io.out(
          `copied ${result.copied.toLocaleString('en-US')} event(s) from ${from} to ${to} in ${(result.elapsedMs / 1000).toFixed(1)} s${result.skipped ? `; ${result.skipped} undecodable row(s) left in place` : ''}`,
        )
      return 0
    } finally {
      await target.close()
    }
  } finally {
    await source.close()
  }
}
