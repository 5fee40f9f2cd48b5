// Issue 11, item 4: a password in TIERBUS_MIGRATION_STORE or NATS_URL never reaches an error or the CLI's output.

import { type CliIo, runCli } from '@tierbus/cli'
import { ConfigError } from '@tierbus/core'
import { freePort } from '@tierbus/core/testing'
import { migrationStoreFromEnv } from '@tierbus/migrator'
import { describe, expect, it } from 'vitest'

const SECRET = 's3cret-pw'

function io(env: Record<string, string> = {}): CliIo & { printed: () => string } {
  const lines: string[] = []
  return { env, out: (t) => void lines.push(t), err: (t) => void lines.push(t), printed: () => lines.join('\n') }
}

// Mistyped schemes and shapes: none matches a store, so the old message echoed the whole value.
const MISTYPED_STORES = [
  `postgress://app:${SECRET}@127.0.0.1:5432/app`,
  `redis:/:${SECRET}@127.0.0.1:6379`,
  `${SECRET}`,
]

describe('no credentials in errors or CLI output', () => {
  it.each(MISTYPED_STORES)(
    'a mistyped TIERBUS_MIGRATION_STORE (%#) is a ConfigError that names the variable, not its value',
    async (store) => {
      const err = await migrationStoreFromEnv({ TIERBUS_MIGRATION_STORE: store }).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(ConfigError)
      expect((err as Error).message).toContain('TIERBUS_MIGRATION_STORE')
      expect((err as Error).message).not.toContain(SECRET)
    },
  )

  it('tierbus migrate status with a mistyped store prints no password', async () => {
    for (const store of MISTYPED_STORES) {
      const cli = io({ TIERBUS_MIGRATION: 'postgres->redis', TIERBUS_MIGRATION_STORE: store })
      expect(await runCli(['migrate', 'status'], cli)).toBe(2)
      expect(cli.printed()).toContain('TIERBUS_MIGRATION_STORE')
      expect(cli.printed()).not.toContain(SECRET)
    }
  })

  it('tierbus dlq list --json against an unreachable NATS URL with credentials prints no password', async () => {
    const port = await freePort()
    for (const NATS_URL of [
      `nats://alice:${SECRET}@127.0.0.1:${port}`,
      `nats://${SECRET}@127.0.0.1:${port}`,
      `nats://alice:${SECRET}@127.0.0.1:${port} typo`,
    ]) {
      const cli = io({ TIERBUS_TRANSPORT: 'nats', NATS_URL })
      expect(await runCli(['dlq', 'list', '--json'], cli)).toBeGreaterThan(0)
      expect(cli.printed()).toMatch(/NATS/)
      expect(cli.printed()).not.toContain(SECRET)
    }
  })
})
