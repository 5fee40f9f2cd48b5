import { defineConfig } from 'vitest/config'

// Tests run against package sources: the `tierbus-source` export condition maps `@tierbus/*` to src/.
// Keep this list minimal: vitest forwards it to Node as --conditions, and a condition such as `import`
// would make Node's require() pick ESM builds of CommonJS dependencies (pg -> pg-pool breaks).
const conditions = ['tierbus-source', 'node']

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
