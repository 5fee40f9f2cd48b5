import { ConfigError, type Envelope, type Transport, TransportError } from '@tierbus/core'
import { dbError } from './db-errors.js'
import { assertSchemaName } from './schema-name.js'
import { publishSql } from './statements.js'
import { DB_REALTIME_CAPABILITIES, DB_REALTIME_DEFAULTS, encodeForJsonb } from './transport.js'

/** A connection inside the app's open transaction: a pg `PoolClient`/`Client` after BEGIN, or a PGlite `Transaction`. */
export interface TransactionClient {
  query(text: string, params?: unknown[]): Promise<unknown>
}

/**
 * Writes envelopes into the events table on the app's own connection, inside its open transaction:
 * the events exist if and only if that transaction commits (consumers are woken at COMMIT by NOTIFY).
 * Returns how many rows were written (an id already stored is skipped). Keep such transactions short:
 * consumers read past an event only once every transaction older than it has finished.
 */
export async function publishInTransaction(
  client: TransactionClient,
  envelopes: readonly Envelope[],
  options: { schema?: string } = {},
): Promise<number> {
  const schema = options.schema ?? DB_REALTIME_DEFAULTS.schema
  assertSchemaName(schema)
  if (!client || typeof client.query !== 'function') {
    throw new ConfigError(
      'publishInTransaction(client, envelopes): client must be the pg client or PGlite transaction running your transaction',
    )
  }
  if (envelopes.length === 0) return 0
  const body = `[${envelopes.map((e) => encodeForJsonb(e, DB_REALTIME_CAPABILITIES.maxPayloadBytes, 'postgres')).join(',')}]`
  try {
    const result = (await client.query(publishSql(schema), [body])) as { rows: Array<{ value: unknown }> }
    return Number(result.rows[0]?.value ?? 0)
  } catch (err) {
    throw dbError(err, 'publishInTransaction', schema)
  }
}

/**
 * A publish-only Transport bound to one transaction, so the typed bus API works inside it:
 * `createBus({ transport: transactionTransport(client), source, closeTransport: false }).publish(E, data)`.
 * Subscribing through it is refused: subscribe on the regular transport.
 */
export function transactionTransport(client: TransactionClient, options: { schema?: string } = {}): Transport {
  const schema = options.schema ?? DB_REALTIME_DEFAULTS.schema
  assertSchemaName(schema)
  return {
    name: 'postgres',
    capabilities: DB_REALTIME_CAPABILITIES,
    publish: async (batch) => void (await publishInTransaction(client, batch, { schema })),
    subscribe: async () => {
      throw new TransportError(
        'a transactionTransport only publishes; subscribe on postgresTransport / pgliteTransport',
        { retryable: false },
      )
    },
    close: async () => {},
  }
}
