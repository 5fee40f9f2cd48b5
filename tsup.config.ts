import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { defineConfig } from 'tsup'

// Shared build of every package: run from the package folder as `tsup --config ../../tsup.config.ts`.
// Entries come from the package.json "tsup.entry" field (default src/index.ts); dependencies and
// peer dependencies stay external, so each adapter's client library is the app's own install.
const pkg = JSON.parse(readFileSync(join(process.cwd(), 'package.json'), 'utf8')) as {
  tsup?: { entry?: string[] }
  dependencies?: Record<string, string>
  peerDependencies?: Record<string, string>
}

export default defineConfig({
  entry: pkg.tsup?.entry ?? ['src/index.ts'],
  format: ['esm', 'cjs'],
  dts: { compilerOptions: { customConditions: [] } },
  sourcemap: true,
  clean: true,
  target: 'node20',
  platform: 'node',
  // Shared chunks: a second entry (`@tierbus/core/testing`, a bin) reuses the package's code instead of
  // bundling its own copy, so classes such as TierbusError exist once (instanceof holds across entries).
  splitting: true,
  treeshake: true,
  external: [...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.peerDependencies ?? {}), /^node:/],
  outDir: 'dist',
})
