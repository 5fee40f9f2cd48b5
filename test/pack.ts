import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync, renameSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The repository root. */
export const repoRoot = fileURLToPath(new URL('..', import.meta.url))

/** Runs a command, failing with its output. */
export function run(cmd: string, args: readonly string[], cwd: string): string {
  try {
    return execFileSync(cmd, args, {
      cwd,
      stdio: 'pipe',
      encoding: 'utf8',
      env: { ...process.env, NEXT_TELEMETRY_DISABLED: '1' },
    })
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string }
    throw new Error(`${cmd} ${args.join(' ')} failed in ${cwd}:\n${e.stdout ?? ''}\n${e.stderr ?? ''}\n${e.message}`)
  }
}

/** The version the workspace itself installed of `name`, so a test app gets what the repo is tested with. */
export function installedVersion(name: string): string {
  return JSON.parse(readFileSync(join(repoRoot, 'node_modules', name, 'package.json'), 'utf8')).version
}

/**
 * Packs each package under packages/ (from its current build) with `npm pack` into `dest` as
 * `tierbus-<dir>.tgz`, as npm would publish it. Returns the package directory names packed.
 */
export function packPackages(dest: string, skip: readonly string[] = []): string[] {
  const dirs = readdirSync(join(repoRoot, 'packages')).filter((dir) => !skip.includes(dir))
  for (const dir of dirs)
    run('npm', ['pack', '--pack-destination', dest, '--ignore-scripts'], join(repoRoot, 'packages', dir))
  // Stable names (npm pack names them <scope>-<name>-<version>.tgz).
  for (const file of readdirSync(dest))
    renameSync(join(dest, file), join(dest, file.replace(/-\d+\.\d+\.\d+.*\.tgz$/, '.tgz')))
  return dirs
}
