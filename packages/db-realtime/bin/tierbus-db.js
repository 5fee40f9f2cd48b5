#!/usr/bin/env node
// Committed launcher, so npm links the bin at install time even before `dist/` is built.
import('../dist/bin.js').catch((err) => {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND') {
    console.error('tierbus-db: not built yet; run `npm run build` in the repository (or install @tierbus/db-realtime from npm)')
    process.exit(1)
  }
  throw err
})
