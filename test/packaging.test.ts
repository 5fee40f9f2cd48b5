import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { builtinModules } from 'node:module'
import { dirname, join } from 'node:path'
import { describe, expect, it } from 'vitest'

// What `npm publish` would ship, read with `npm pack --dry-run` (no tarball written, no registry asked).
const root = join(import.meta.dirname, '..')
const packages = readdirSync(join(root, 'packages'))

describe('published packages', () => {
  it.each(packages)('@tierbus/%s ships its LICENSE, README and build, and links back to the repository', (dir) => {
    const cwd = join(root, 'packages', dir)
    const [report] = JSON.parse(
      execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd, encoding: 'utf8' }),
    )
    const files = (report.files as Array<{ path: string }>).map((f) => f.path)
    expect(files).toContain('LICENSE')
    expect(files).toContain('README.md')
    expect(files).toContain('dist/index.js')
    expect(files).toContain('dist/index.d.ts')
    const pkg = JSON.parse(readFileSync(join(cwd, 'package.json'), 'utf8'))
    expect(pkg.license).toBe('MIT')
    expect(pkg.repository).toMatchObject({ type: 'git', directory: `packages/${dir}` })
    expect(pkg.homepage).toMatch(/^https:\/\//)
    expect(pkg.bugs.url).toMatch(/^https:\/\//)
    expect(pkg.publishConfig).toEqual({ access: 'public' })
  })

  it('@tierbus/core/testing reuses core instead of bundling a second copy (one TierbusError class)', () => {
    const dist = join(root, 'packages/core/dist')
    for (const entry of ['testing/index.js', 'testing/index.cjs', 'index.js', 'index.cjs']) {
      expect(readFileSync(join(dist, entry), 'utf8')).not.toMatch(/var TierbusError = class/)
    }
    const chunks = readdirSync(dist).filter((f) => /^chunk-.*\.(c?js)$/.test(f))
    const defining = chunks.filter((f) => /var TierbusError = class/.test(readFileSync(join(dist, f), 'utf8')))
    expect(defining).toHaveLength(2) // one ESM chunk, one CJS chunk
  })

  it('@tierbus/core imports no Node built-in outside its testing entry (Web Crypto), so edge runtimes can load it', () => {
    const src = join(root, 'packages/core/src')
    const files = readdirSync(src, { recursive: true, encoding: 'utf8' }).filter(
      (f) => f.endsWith('.ts') && !f.startsWith('testing'),
    )
    expect(files.length).toBeGreaterThan(10)
    const offenders = files.filter((f) => /from ['"]node:|require\(['"]node:/.test(readFileSync(join(src, f), 'utf8')))
    expect(offenders).toEqual([])
  })

  // What an edge bundle of each entry would hold: its built ESM files and the @tierbus packages they import,
  // followed through static and dynamic imports. Build first (`npm run build -w <package>`).
  it.each([
    ['@tierbus/redis-streams/edge', '@upstash/redis'],
    ['@tierbus/db-realtime/edge', '@supabase/supabase-js'],
    ['@tierbus/next', undefined],
  ])('%s imports no Node built-in and no Node-only client, so edge runtimes can bundle it', (entry, client) => {
    const external = externalImportsOf(entry)
    const nodeOnly = external.filter(
      (s) => s.startsWith('node:') || builtinModules.includes(s) || NODE_ONLY_CLIENTS.includes(s),
    )
    expect(nodeOnly).toEqual([])
    if (client) expect(external).toContain(client)
  })
})

/** Client libraries that need Node's sockets or file system. */
const NODE_ONLY_CLIENTS = [
  'ioredis',
  'pg',
  '@electric-sql/pglite',
  'nats',
  '@aws-sdk/client-sqs',
  '@aws-sdk/client-sns',
]

/** The ESM file a `@tierbus/<pkg>[/<subpath>]` specifier resolves to in the workspace's built output. */
function builtFileOf(specifier: string): string {
  const [, pkg, sub] = /^@tierbus\/([^/]+)(?:\/(.+))?$/.exec(specifier) ?? []
  const dir = join(root, 'packages', pkg ?? '')
  const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'))
  return join(dir, manifest.exports[sub ? `./${sub}` : '.'].import.default)
}

/** Every import outside @tierbus reachable from `entry`'s built ESM (static `from`, bare `import`, dynamic `import()`). */
function externalImportsOf(entry: string): string[] {
  const seen = new Set<string>()
  const external = new Set<string>()
  const pending = [builtFileOf(entry)]
  for (let file = pending.pop(); file !== undefined; file = pending.pop()) {
    if (seen.has(file)) continue
    seen.add(file)
    const code = readFileSync(file, 'utf8')
    for (const [, specifier] of code.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^import\s*)["']([^"']+)["']/gm)) {
      if (specifier === undefined) continue
      if (specifier.startsWith('.')) pending.push(join(dirname(file), specifier))
      else if (specifier.startsWith('@tierbus/')) pending.push(builtFileOf(specifier))
      else external.add(specifier)
    }
  }
  return [...external].sort()
}
