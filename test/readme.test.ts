import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { docExample, root, withDocModule } from './doc-example.js'

describe('README', () => {
  it('shows the two fresh-machine commands', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8')
    expect(readme).toContain('npm ci && npm run demo')
    expect(readme).toContain('npm test')
  })

  it('has a usage example that type-checks as written and runs', async () => {
    await withDocModule(docExample('README.md', '<!-- readme-example'), async (diagnostics, load) => {
      expect(diagnostics).toEqual([])
      const logs: string[] = []
      const original = console.log
      console.log = (line: string) => void logs.push(line)
      try {
        await load()
      } finally {
        console.log = original
      }
      expect(logs).toEqual(['sentiment for fb-1: positive'])
    })
  }, 120_000)
})
