import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { eventually, freePort } from '@tierbus/core/testing'

export { freePort }

/** True when something accepts TCP connections on 127.0.0.1:`port`. */
export function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' })
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

/** A temp dir for one broker's data, removed by `removeDir`. */
export function tempDir(name: string): string {
  return mkdtempSync(join(tmpdir(), `tierbus-outage-${name}-`))
}

/** Removes a dir made by `tempDir`, ignoring what is already gone. */
export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true })
}

/** How to run one private broker: the same command, port and data dir on every (re)start. */
export interface BrokerSpec {
  readonly name: string
  readonly command: string
  readonly args: readonly string[]
  /** Ports that accept connections once the broker is ready. */
  readonly ports: readonly number[]
  /** Environment variables added to the broker's (RabbitMQ takes its node name, ports and dirs from them). */
  readonly env?: Readonly<Record<string, string>>
  /** Run as this user/group (postgres refuses to run as root). */
  readonly uid?: number
  readonly gid?: number
  /** How long a start may take, ms (default 60,000; a RabbitMQ node boots slowly on a loaded machine). */
  readonly startTimeoutMs?: number
  /** Extra readiness check after the ports opened (e.g. a JetStream cluster elected its leader). */
  readonly ready?: () => Promise<boolean>
}

/**
 * One private broker process, started by the test in its own process group, killed with SIGKILL by
 * its own PID (the group, so a postmaster's children die with it), and restarted on the same port
 * and data dir. Keeps the tail of its output for failure messages.
 */
export class BrokerProcess {
  private child: ChildProcess | undefined
  private exited: Promise<void> = Promise.resolve()
  private readonly output: string[] = []

  constructor(readonly spec: BrokerSpec) {}

  /** The running process id, if any. */
  get pid(): number | undefined {
    return this.child?.pid
  }

  /** Starts the broker and waits until every port accepts connections. */
  async start(timeoutMs = this.spec.startTimeoutMs ?? 60_000): Promise<void> {
    const { command, args, uid, gid, env } = this.spec
    const child = spawn(command, [...args], {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(env ? { env: { ...process.env, ...env } } : {}),
      ...(uid !== undefined ? { uid } : {}),
      ...(gid !== undefined ? { gid } : {}),
    })
    this.child = child
    const keep = (chunk: Buffer) => {
      this.output.push(chunk.toString('utf8'))
      if (this.output.length > 200) this.output.splice(0, this.output.length - 200)
    }
    child.stdout!.on('data', keep)
    child.stderr!.on('data', keep)
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()))
    const diedEarly = () => child.exitCode !== null || child.signalCode !== null
    await eventually(
      async () => {
        if (diedEarly())
          throw new Error(
            `${this.spec.name} exited during startup (${child.exitCode ?? child.signalCode}):\n${this.tail()}`,
          )
        for (const port of this.spec.ports) if (!(await portOpen(port))) return false
        return this.spec.ready ? this.spec.ready().catch(() => false) : true
      },
      () => `${this.spec.name} to accept connections (and be ready) on ${this.spec.ports.join(', ')}:\n${this.tail()}`,
      { timeoutMs, intervalMs: 50 },
    )
  }

  /** SIGKILLs the broker's process group by its PID and waits until the process is gone. */
  kill(): Promise<void> {
    return this.signal('SIGKILL')
  }

  /** Stops the broker gracefully (SIGTERM to its process group) and waits until it is gone. */
  stop(): Promise<void> {
    return this.signal('SIGTERM')
  }

  private async signal(signal: 'SIGKILL' | 'SIGTERM'): Promise<void> {
    const child = this.child
    if (!child?.pid || child.exitCode !== null || child.signalCode !== null) return
    try {
      process.kill(-child.pid, signal)
    } catch {
      child.kill(signal)
    }
    await this.exited
    // The kernel releases listening sockets with the process; wait until the ports refuse.
    await eventually(
      async () => {
        for (const port of this.spec.ports) if (await portOpen(port)) return false
        return true
      },
      `${this.spec.name} ports to close after ${signal}`,
      { timeoutMs: 60_000, intervalMs: 50 },
    )
  }

  /** The last lines the broker printed (for failure messages). */
  tail(): string {
    return this.output.join('').split('\n').slice(-30).join('\n')
  }
}
