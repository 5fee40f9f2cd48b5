#!/usr/bin/env node
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
    console.error('tierbus: unexpected failure:', err)
    process.exitCode = 1
  },
)
