export type { CliIo } from './cli.js'
export { runCli } from './cli.js'
