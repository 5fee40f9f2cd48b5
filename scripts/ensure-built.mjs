// `npm test` on a fresh clone: some tests load built output (the CJS build of @tierbus/core, packed
// tarballs), so build the packages first when any of them is missing. CI builds explicitly before testing.
// The example Next.js app is built by its own test when needed.

import { execSync } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'

const outputs = readdirSync('packages')
  .filter((p) => existsSync(`packages/${p}/package.json`))
  .map((p) => `packages/${p}/dist/index.js`)
const missing = outputs.filter((f) => !existsSync(f))
if (missing.length > 0) {
  console.log(`building first (missing: ${missing.join(', ')})`)
  execSync('npm run build', { stdio: 'inherit' })
}
