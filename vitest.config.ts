import { defineConfig } from 'vitest/config'

// Tests run against package sources: the `tierbus-source` export condition maps `@tierbus/*` to src/.
const conditions = ['tierbus-source', 'module', 'node', 'import', 'default']

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: ['tierbus-source'] } },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    maxWorkers: 2,
  },
})
