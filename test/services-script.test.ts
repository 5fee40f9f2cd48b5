// scripts/services.sh, the step `npm test` and .ci/run take before anything talks to a service. These tests
// never stop or restart the shared services: "down" is a free port (TIERBUS_SERVICES_PORTS), "missing" is a
// PATH without the binary, and the one real start is a private Redis on a free port, killed by its own PID.
import { spawnSync } from 'node:child_process'
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Redis } from 'ioredis'
import { afterAll, describe, expect, it } from 'vitest'

const script = fileURLToPath(new URL('../scripts/services.sh', import.meta.url))
const isRoot = process.getuid?.() === 0
const canApt = isRoot && existsSync('/etc/debian_version')
const scratch = mkdtempSync(join(tmpdir(), 'tierbus-services-'))
chmodSync(scratch, 0o755) // the not-root case runs the script as nobody, who must read this PATH directory
const cleanups: Array<() => void> = []

afterAll(() => {
  while (cleanups.length) cleanups.pop()!()
  rmSync(scratch, { recursive: true, force: true })
})

interface Run {
  status: number | null
  stdout: string
  stderr: string
}

/** Runs the script with extra environment; `asNobody` drops root first (as a developer's shell would be). */
function services(args: string[], env: Record<string, string>, options: { asNobody?: boolean } = {}): Run {
  const command =
    options.asNobody && isRoot
      ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', 'bash', script]
      : ['bash', script]
  const run = spawnSync(command[0]!, [...command.slice(1), ...args], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 60_000,
  })
  return { status: run.status, stdout: run.stdout, stderr: run.stderr }
}

/**
 * The current PATH without the commands `hidden`: this machine without those packages. A directory that
 * holds one of them is replaced by a copy of its symlinks minus the hidden ones.
 */
function pathWithout(...hidden: string[]): string {
  return (process.env.PATH ?? '')
    .split(delimiter)
    .map((from) => {
      if (!hidden.some((name) => existsSync(join(from, name)))) return from
      const dir = mkdtempSync(join(scratch, 'path-'))
      chmodSync(dir, 0o755)
      for (const name of readdirSync(from)) if (!hidden.includes(name)) symlinkSync(join(from, name), join(dir, name))
      return dir
    })
    .join(delimiter)
}

/** A port nothing listens on (the OS just handed it out and it was closed again). */
async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

const lines = (text: string) => text.split('\n').filter(Boolean)

describe('scripts/services.sh', () => {
  it('is quiet when the services are up: one line, nothing on stderr', () => {
    const run = services(['postgres', 'redis', 'nats'], {})
    expect(run.stderr).toBe('')
    expect(lines(run.stdout)).toEqual(['services: all up: postgres redis nats'])
    expect(run.status).toBe(0)
  })

  it('names exactly the packages to install, in one message, where it cannot install them (not root)', async () => {
    const [redis, nats] = [await freePort(), await freePort()]
    const run = services(
      ['redis', 'nats', 'pgbouncer'],
      {
        PATH: pathWithout('nats-server', 'pgbouncer'),
        TIERBUS_SERVICES_PORTS: `redis=${redis} nats=${nats}`,
        TIERBUS_SERVICES_DRY_RUN: '1',
      },
      { asNobody: true },
    )
    expect(run.status).toBe(1)
    expect(lines(run.stderr)).toHaveLength(1)
    expect(run.stderr).toMatch(/^services: missing nats-server pgbouncer; install them /)
    expect(run.stdout).toBe('') // it stops before starting anything
  })

  it('on Debian as root, runs apt-get update once and installs what is missing before starting it (dry run)', async () => {
    const nats = await freePort()
    const run = services(['nats', 'pgbouncer'], {
      PATH: pathWithout('nats-server', 'pgbouncer'),
      TIERBUS_SERVICES_PORTS: `nats=${nats}`,
      TIERBUS_SERVICES_DRY_RUN: '1',
    })
    if (!canApt) {
      // Not root on Debian (a developer's machine): the same one message as above instead.
      expect(run.stderr).toMatch(/^services: missing nats-server pgbouncer; install them /)
      return
    }
    expect(run.stderr).toBe('')
    const [installing, ...rest] = lines(run.stdout)
    expect(installing).toMatch(/^services: installing nats-server pgbouncer from Debian's packages \(log: .+\)$/)
    expect(rest).toEqual([
      'services: would run: apt-get update -qq -o DPkg::Lock::Timeout=300',
      'services: would run: apt-get install -y -qq -o DPkg::Lock::Timeout=300 nats-server pgbouncer',
      `services: nats is down on ${nats}, starting it`,
      'services: would run: start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log',
    ])
    expect(run.status).toBe(0)
  })

  it('starts each installed service that is down with its start command, and nothing for what is up (dry run)', async () => {
    const [postgres, redis, rabbitmq] = [await freePort(), await freePort(), await freePort()]
    const run = services(['postgres', 'redis', 'nats', 'rabbitmq'], {
      TIERBUS_SERVICES_PORTS: `postgres=${postgres} redis=${redis} rabbitmq=${rabbitmq}`,
      TIERBUS_SERVICES_DRY_RUN: '1',
    })
    expect(run.stderr).toBe('')
    const out = lines(run.stdout)
    expect(out).toContain(`services: postgres is down on ${postgres}, starting it`)
    expect(
      out.some((l) => /^services: would run: pg_ctlcluster --skip-systemctl-redirect \S+ main start$/.test(l)),
    ).toBe(true)
    expect(out).toContain(
      `services: would run: redis-server --daemonize yes --bind 127.0.0.1 -::1 --port ${redis} --save '' --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log`,
    )
    expect(out).toContain('services: would run: rabbitmq-plugins enable --offline rabbitmq_consistent_hash_exchange')
    expect(out).toContain('services: would run: rabbitmq-server -detached')
    expect(out).toContain(`services: would create database test on ${postgres} if missing`)
    expect(out.join('\n')).not.toContain('nats') // NATS is up on 4222: left alone
    expect(run.status).toBe(0)
  })

  it("enables the amqp tier's plugin on a running RabbitMQ that lacks it, without a restart (dry run)", () => {
    const plugins = join(scratch, 'enabled_plugins')
    writeFileSync(plugins, '[rabbitmq_management].\n')
    const run = services(['rabbitmq'], { RABBITMQ_ENABLED_PLUGINS_FILE: plugins, TIERBUS_SERVICES_DRY_RUN: '1' })
    expect(run.stderr).toBe('')
    expect(lines(run.stdout)).toEqual([
      'services: would run: rabbitmq-plugins enable rabbitmq_consistent_hash_exchange',
      'services: enabled RabbitMQ plugin rabbitmq_consistent_hash_exchange',
      'services: all up: rabbitmq',
    ])
    writeFileSync(plugins, '[rabbitmq_consistent_hash_exchange].\n')
    const again = services(['rabbitmq'], { RABBITMQ_ENABLED_PLUGINS_FILE: plugins, TIERBUS_SERVICES_DRY_RUN: '1' })
    expect(lines(again.stdout)).toEqual(['services: all up: rabbitmq'])
  })

  it('starts an installed Redis that is down and waits for it, then says it is up on the next run', async () => {
    const port = await freePort()
    const env = { TIERBUS_SERVICES_PORTS: `redis=${port}` }
    const first = services(['redis'], env)
    const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0 })
    cleanups.push(() => client.disconnect())
    await client.connect() // it waited for the port, so the private instance answers at once
    const pid = Number(/process_id:(\d+)/.exec(await client.info('server'))![1])
    cleanups.push(() => process.kill(pid))
    expect(first.stderr).toBe('')
    expect(lines(first.stdout)).toEqual([
      `services: redis is down on ${port}, starting it`,
      expect.stringMatching(new RegExp(`^services: redis up on ${port} after \\d+ s$`)),
    ])
    expect(first.status).toBe(0)

    const second = services(['redis'], env)
    expect(lines(second.stdout)).toEqual(['services: all up: redis'])
    expect(second.status).toBe(0)
  })

  it('refuses to start postgres, nats or rabbitmq on a moved port outside a dry run (that would be the shared one)', async () => {
    const port = await freePort()
    for (const name of ['postgres', 'nats', 'rabbitmq']) {
      const run = services([name], { TIERBUS_SERVICES_PORTS: `${name}=${port}` })
      expect(run.status).toBe(1)
      expect(run.stderr).toContain(`services: ${name} can only be started on its own port`)
    }
  })

  it('rejects a service it does not know, listing the ones it does', () => {
    const run = services(['mysql'], {})
    expect(run.status).toBe(1)
    expect(run.stderr).toBe(
      "services: unknown service 'mysql'; known: postgres redis nats rabbitmq pgbouncer chromium\n",
    )
  })
})
