#!/usr/bin/env node
// Committed launcher, so npm links the `tierbus` bin at install time even before `dist/` is built.
import { fileURLToPath } from 'node:url'

const entry = new URL('../dist/bin.js', import.meta.url)
import(entry.href).catch((err) => {
  // Only the CLI's own build missing means "not built"; any other missing module is named as it is.
  const missing =
    err && err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes(`'${fileURLToPath(entry)}'`)
  if (missing) {
    console.error(
      'tierbus: the CLI is not built yet; run `npm run build` in the repository (or install @tierbus/cli from npm)',
    )
  } else if (err && err.code === 'ERR_MODULE_NOT_FOUND') {
    console.error(`tierbus: a module it needs is not installed: ${err.message}. Reinstall: npm install -D @tierbus/cli`)
  } else {
    console.error('tierbus: failed to start:', err)
  }
  process.exit(1)
})
