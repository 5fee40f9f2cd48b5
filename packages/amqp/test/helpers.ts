import { execFileSync } from 'node:child_process'
import { uniqueToken } from '@tierbus/core/testing'
import { type AmqpTransport, type AmqpTransportOptions, amqpTransport } from '../src/index.js'

/** The RabbitMQ broker every test uses. */
export const AMQP_URL = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672'

/** A transport on its own random prefix (and connection name); its queues and exchanges are deleted when it closes. */
export async function isolatedTransport(overrides: Partial<AmqpTransportOptions> = {}): Promise<AmqpTransport> {
  const prefix = uniqueToken('tb')
  return amqpTransport({
    url: AMQP_URL,
    prefix,
    connectionName: `tierbus-test-${prefix}`,
    deleteOnClose: true,
    onError: () => {},
    ...overrides,
  })
}

/**
 * Closes, from the broker side, every connection on the shared broker whose client-given name is
 * `connectionName` (`rabbitmqctl close_connection`): other tests' connections are left alone. Returns
 * how many it closed.
 */
export function closeConnectionsNamed(connectionName: string): number {
  const listing = execFileSync('rabbitmqctl', ['-q', 'list_connections', 'pid', 'client_properties'], {
    encoding: 'utf8',
  })
  const pids = listing
    .split('\n')
    .filter((line) => line.includes(`"${connectionName}"`))
    .map((line) => line.split('\t')[0] ?? '')
    .filter((pid) => /^<[^>\s]+>$/.test(pid))
  for (const pid of pids)
    execFileSync('rabbitmqctl', ['-q', 'close_connection', pid, 'tierbus reconnect test'], { stdio: 'ignore' })
  return pids.length
}
