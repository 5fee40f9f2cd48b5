// The assertions are the shared suite's: runTransportConformance in packages/core/src/testing/conformance.ts.
import { PGlite } from '@electric-sql/pglite'
import { runTransportConformance } from '@tierbus/core/testing'
import { afterAll, beforeAll } from 'vitest'
import { DB_REALTIME_CAPABILITIES, type DbRealtimeTransport, pgliteTransport } from '../src/index.js'
import { freshSchema, injectRawRow } from './helpers.js'

// One in-memory PGlite for the file (starting one costs ~1 s); each case gets its own schema, dropped on close.
let db: PGlite
beforeAll(async () => {
  db = await PGlite.create()
}, 60_000)
afterAll(async () => {
  await db.close()
})

runTransportConformance(
  'pglite',
  async () => {
    const schema = freshSchema()
    const transport = await pgliteTransport({ client: db, schema, onError: () => {} })
    const close = transport.close.bind(transport)
    return Object.assign(transport, {
      close: async () => {
        await close()
        await db.exec(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
      },
    })
  },
  {
    capabilities: DB_REALTIME_CAPABILITIES,
    injectRaw: async (transport, type, raw) => {
      await injectRawRow((sql, params) => db.query(sql, params), (transport as DbRealtimeTransport).schema, type, raw)
    },
  },
)
