export { runCli } from './cli.js'
export type { CliIo } from './cli.js'
