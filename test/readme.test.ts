import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import ts from 'typescript'
import { describe, expect, it } from 'vitest'

const root = fileURLToPath(new URL('..', import.meta.url))

/** The README's first code block after the readme-example marker, exactly as written. */
function readmeExample(): string {
  const readme = readFileSync(join(root, 'README.md'), 'utf8')
  const at = readme.indexOf('<!-- readme-example')
  expect(at).toBeGreaterThan(0)
  const match = /```ts\n([\s\S]*?)```/.exec(readme.slice(at))
  expect(match).not.toBeNull()
  return match![1]!
}

describe('README', () => {
  it('shows the two fresh-machine commands', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8')
    expect(readme).toContain('npm ci && npm run demo')
    expect(readme).toContain('npm test')
  })

  it('has a usage example that type-checks as written and runs', async () => {
    // Inside the repo, so `@tierbus/core` and `zod` resolve as they would in an app.
    const dir = mkdtempSync(join(root, 'test', '.readme-'))
    const file = join(dir, 'example.ts')
    writeFileSync(file, readmeExample())
    try {
      const config = ts.readConfigFile(join(root, 'tsconfig.json'), ts.sys.readFile)
      const { options } = ts.parseJsonConfigFileContent(config.config, ts.sys, root)
      const program = ts.createProgram([file], { ...options, noEmit: true })
      const diagnostics = ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'))
      expect(diagnostics).toEqual([])
      const logs: string[] = []
      const original = console.log
      console.log = (line: string) => void logs.push(line)
      try {
        await import(pathToFileURL(file).href)
      } finally {
        console.log = original
      }
      expect(logs).toEqual(['sentiment for fb-1: positive'])
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }, 60_000)
})
