// `npm test` on a fresh clone: some tests load built output (the CJS build of @tierbus/core, the
// Next.js example app), so build first when any of it is missing. CI builds explicitly before testing.
import { existsSync } from 'node:fs'
import { execSync } from 'node:child_process'

const outputs = ['core', 'db-realtime', 'redis-streams', 'sqs-sns', 'nats', 'otel', 'migrator', 'cli', 'next'].map((p) => `packages/${p}/dist/index.js`)
outputs.push('examples/nextjs-app/.next/BUILD_ID')
const missing = outputs.filter((f) => !existsSync(f))
if (missing.length > 0) {
  console.log(`building first (missing: ${missing.join(', ')})`)
  execSync('npm run build', { stdio: 'inherit' })
}
