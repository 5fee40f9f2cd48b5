#!/usr/bin/env node
import { redactSecrets } from '@tierbus/core'
import { runCli } from './cli.js'

runCli(process.argv.slice(2), {
  out: (text) => console.log(text),
  err: (text) => console.error(text),
  env: process.env,
  tty: Boolean(process.stderr.isTTY),
}).then(
  (code) => {
    process.exitCode = code
  },
  (err: unknown) => {
    // A driver's error may quote the connection string it was given: print it redacted.
    console.error(
      `tierbus: unexpected failure: ${redactSecrets(err instanceof Error ? (err.stack ?? err.message) : String(err))}`,
    )
    process.exitCode = 1
  },
)
