#!/usr/bin/env node
import { runMigrateCli } from './cli.js'

runMigrateCli(process.argv.slice(2)).then(
  (out) => console.log(out),
  (err: Error) => {
    console.error(err.message)
    process.exitCode = 1
  },
)
