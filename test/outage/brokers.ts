import { execFileSync } from 'node:child_process'
import { chownSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import pg from 'pg'
import { BrokerProcess, freePort, removeDir, tempDir } from './broker-process.js'

/** A private broker for one test file: its URL(s), its process(es), and cleanup of processes and dirs. */
export interface PrivateBroker {
  readonly url: string
  readonly processes: readonly BrokerProcess[]
  /** SIGKILLs every process (if running) and removes the data dirs; safe to call twice. */
  cleanup(): Promise<void>
}

function cleanupOf(processes: readonly BrokerProcess[], dirs: readonly string[]): () => Promise<void> {
  return async () => {
    for (const p of processes) await p.kill().catch(() => {})
    for (const dir of dirs) removeDir(dir)
  }
}

async function started(processes: BrokerProcess[], dirs: string[], url: string): Promise<PrivateBroker> {
  const cleanup = cleanupOf(processes, dirs)
  try {
    await Promise.all(processes.map((p) => p.start()))
  } catch (err) {
    await cleanup()
    throw err
  }
  return { url, processes, cleanup }
}

/**
 * Starts a broker on ports picked by `freePort()`, picking again when one was taken in between (another
 * test worker can bind a port after it was released and before the broker binds it).
 */
async function onFreshPorts(start: () => Promise<PrivateBroker>, attempts = 3): Promise<PrivateBroker> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start()
    } catch (err) {
      if (attempt >= attempts || !/address already in use|EADDRINUSE/i.test(String((err as Error).message))) throw err
    }
  }
}

/** redis-server on a free port with an append-only file fsynced on every write, so acked data survives SIGKILL. */
export function startRedis(): Promise<PrivateBroker> {
  return onFreshPorts(async () => {
    const port = await freePort()
    const dir = tempDir('redis')
    const args = [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'yes',
      '--appendfsync',
      'always',
      '--dir',
      dir,
    ]
    return started(
      [new BrokerProcess({ name: `redis-server :${port}`, command: 'redis-server', args, ports: [port] })],
      [dir],
      `redis://127.0.0.1:${port}`,
    )
  })
}

/** nats-server with JetStream on a free port, storing in its own dir. */
export function startNats(): Promise<PrivateBroker> {
  return onFreshPorts(async () => {
    const port = await freePort()
    const dir = tempDir('nats')
    const args = ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', dir]
    return started(
      [new BrokerProcess({ name: `nats-server :${port}`, command: 'nats-server', args, ports: [port] })],
      [dir],
      `nats://127.0.0.1:${port}`,
    )
  })
}

/** A JetStream cluster of `size` nats-servers on private client and route ports, each with its own store. */
export function startNatsCluster(size = 3): Promise<PrivateBroker> {
  return onFreshPorts(async () => {
    const clientPorts: number[] = []
    const routePorts: number[] = []
    const monitorPorts: number[] = []
    for (let i = 0; i < size; i++) {
      clientPorts.push(await freePort())
      routePorts.push(await freePort())
      monitorPorts.push(await freePort())
    }
    const cluster = `tb${Math.random().toString(36).slice(2, 8)}`
    const routes = routePorts.map((p) => `nats://127.0.0.1:${p}`).join(',')
    const dirs: string[] = []
    const processes = clientPorts.map((port, i) => {
      const dir = tempDir(`nats-${i}`)
      dirs.push(dir)
      const args = [
        '-a',
        '127.0.0.1',
        '-p',
        String(port),
        '-m',
        String(monitorPorts[i]),
        '-n',
        `${cluster}-n${i}`,
        '-js',
        '-sd',
        dir,
        '--cluster_name',
        cluster,
        '--cluster',
        `nats://127.0.0.1:${routePorts[i]}`,
        '--routes',
        routes,
      ]
      // /healthz answers 200 once this node's JetStream is current with the cluster (a meta leader exists).
      const ready = async () => (await fetch(`http://127.0.0.1:${monitorPorts[i]}/healthz`)).ok
      return new BrokerProcess({
        name: `nats-server ${cluster}-n${i} :${port}`,
        command: 'nats-server',
        args,
        ports: [port],
        ready,
      })
    })
    return started(processes, dirs, clientPorts.map((p) => `nats://127.0.0.1:${p}`).join(','))
  })
}

const PG_BIN = '/usr/lib/postgresql/15/bin'

/** The uid and gid of a system user (postgres and RabbitMQ run as their own users, not as root). */
function systemUser(name: string): { uid: number; gid: number } {
  const id = (flag: string) => Number(execFileSync('id', [flag, name], { encoding: 'utf8' }))
  return { uid: id('-u'), gid: id('-g') }
}

/**
 * A private Postgres 15 cluster: initdb in a temp dir owned by the postgres user, `postgres` on a free
 * port with its socket in that dir, fsync off (a SIGKILL of the server is not an OS crash), trust auth.
 */
export function startPostgres(): Promise<PrivateBroker> {
  return onFreshPorts(async () => {
    const port = await freePort()
    const dir = tempDir('pg')
    const { uid, gid } = systemUser('postgres')
    chownSync(dir, uid, gid)
    const data = join(dir, 'data')
    try {
      execFileSync(`${PG_BIN}/initdb`, ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync'], {
        uid,
        gid,
        stdio: 'pipe',
      })
    } catch (err) {
      removeDir(dir)
      throw new Error(`initdb failed: ${(err as { stderr?: Buffer }).stderr?.toString() ?? String(err)}`)
    }
    writeFileSync(
      join(data, 'postgresql.auto.conf'),
      'fsync = off\nfull_page_writes = off\nsynchronous_commit = on\nmax_connections = 50\n',
    )
    const args = ['-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1']
    const url = `postgres://postgres@127.0.0.1:${port}/postgres`
    // The port opens before recovery ends ("the database system is starting up"): ready once a query runs.
    const ready = async () => {
      const client = new pg.Client({ connectionString: url })
      client.on('error', () => {})
      try {
        await client.connect()
        await client.query('SELECT 1')
        return true
      } finally {
        await client.end().catch(() => {})
      }
    }
    const broker = new BrokerProcess({
      name: `postgres :${port}`,
      command: `${PG_BIN}/postgres`,
      args,
      ports: [port],
      uid,
      gid,
      ready,
    })
    return started([broker], [dir], url)
  })
}

/** Options of `startPgBouncer`. */
export interface PgBouncerOptions {
  /** The Postgres it pools (default the shared one, 127.0.0.1:5432). */
  readonly postgresPort?: number
  /** The database it serves under the same name (default `test`). */
  readonly database?: string
  /** Server connections per database/user pair: 1 makes every client share one server connection. */
  readonly poolSize?: number
}

/**
 * A private PgBouncer in transaction mode (`pool_mode = transaction`, trust auth) on a free port, in front of
 * a Postgres, run as the postgres user (PgBouncer refuses root), killed by its own PID. Its URL is the pooled one.
 */
export function startPgBouncer(options: PgBouncerOptions = {}): Promise<PrivateBroker> {
  const { postgresPort = 5432, database = 'test', poolSize = 4 } = options
  return onFreshPorts(async () => {
    const port = await freePort()
    const dir = tempDir('pgbouncer')
    const { uid, gid } = systemUser('postgres')
    chownSync(dir, uid, gid)
    const users = join(dir, 'userlist.txt')
    writeFileSync(users, '"postgres" ""\n')
    const ini = join(dir, 'pgbouncer.ini')
    writeFileSync(
      ini,
      [
        '[databases]',
        `${database} = host=127.0.0.1 port=${postgresPort} dbname=${database}`,
        '[pgbouncer]',
        'listen_addr = 127.0.0.1',
        `listen_port = ${port}`,
        'unix_socket_dir =',
        'auth_type = trust',
        `auth_file = ${users}`,
        'pool_mode = transaction',
        `default_pool_size = ${poolSize}`,
        'max_client_conn = 200',
        'server_check_delay = 0',
      ].join('\n') + '\n',
    )
    const name = `pgbouncer :${port}`
    const broker = new BrokerProcess({ name, command: 'pgbouncer', args: [ini], ports: [port], uid, gid })
    return started([broker], [dir], `postgres://postgres@127.0.0.1:${port}/${database}`)
  })
}

const RABBITMQ_SERVER = '/usr/lib/rabbitmq/bin/rabbitmq-server'

/**
 * A private RabbitMQ node (`tierbus-<random>@localhost`) in the foreground, as the rabbitmq user, with
 * AMQP and Erlang distribution on free loopback ports and its database, logs, config and enabled plugins
 * (the consistent-hash exchange) in a temp dir; the shared node's configuration is not read. Restarting
 * it on the same dir keeps its durable queues and what they hold.
 */
export function startRabbitMQ(): Promise<PrivateBroker> {
  return onFreshPorts(async () => {
    const port = await freePort()
    const distPort = await freePort()
    const dir = tempDir('rabbitmq')
    const { uid, gid } = systemUser('rabbitmq')
    writeFileSync(join(dir, 'rabbitmq.conf'), `listeners.tcp.local = 127.0.0.1:${port}\n`)
    writeFileSync(join(dir, 'rabbitmq-env.conf'), '')
    writeFileSync(join(dir, 'enabled_plugins'), '[rabbitmq_consistent_hash_exchange].\n')
    chownSync(dir, uid, gid)
    for (const f of ['rabbitmq.conf', 'rabbitmq-env.conf', 'enabled_plugins']) chownSync(join(dir, f), uid, gid)
    const env = {
      HOME: dir,
      RABBITMQ_NODENAME: `tierbus-${Math.random().toString(36).slice(2, 8)}@localhost`,
      RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
      RABBITMQ_NODE_PORT: String(port),
      RABBITMQ_DIST_PORT: String(distPort),
      RABBITMQ_CONFIG_FILE: join(dir, 'rabbitmq.conf'),
      RABBITMQ_CONF_ENV_FILE: join(dir, 'rabbitmq-env.conf'),
      RABBITMQ_ENABLED_PLUGINS_FILE: join(dir, 'enabled_plugins'),
      RABBITMQ_MNESIA_BASE: join(dir, 'mnesia'),
      RABBITMQ_LOG_BASE: join(dir, 'log'),
      RABBITMQ_PID_FILE: join(dir, 'node.pid'),
      ERL_EPMD_ADDRESS: '127.0.0.1',
      ERL_FLAGS: '-kernel inet_dist_use_interface {127,0,0,1}',
    }
    const name = `rabbitmq-server :${port}`
    const command = RABBITMQ_SERVER
    const broker = new BrokerProcess({ name, command, args: [], env, ports: [port], uid, gid, startTimeoutMs: 180_000 })
    return started([broker], [dir], `amqp://guest:guest@127.0.0.1:${port}`)
  })
}
