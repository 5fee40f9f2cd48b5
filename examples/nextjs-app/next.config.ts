import type { NextConfig } from 'next'

// tierbus and the database clients run as plain Node packages on the server (not bundled), so
// createBusFromEnv can load whichever tier TIERBUS_TRANSPORT names.
const config: NextConfig = {
  serverExternalPackages: [
    '@tierbus/core',
    '@tierbus/next',
    '@tierbus/db-realtime',
    '@tierbus/migrator',
    '@electric-sql/pglite',
    'pg',
    'zod',
  ],
}

export default config
