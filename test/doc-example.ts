import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import ts from 'typescript'

/** The repository root. */
export const root = fileURLToPath(new URL('..', import.meta.url))

/** The first ```ts block after `marker` in a markdown file of the repository, exactly as written. */
export function docExample(file: string, marker: string): string {
  const text = readFileSync(join(root, file), 'utf8')
  const at = text.indexOf(marker)
  if (at < 0) throw new Error(`${file} has no ${marker} marker`)
  const match = /```ts\n([\s\S]*?)```/.exec(text.slice(at))
  if (!match?.[1]) throw new Error(`${file} has no ts code block after ${marker}`)
  return match[1]
}

/**
 * Writes `code` to a temporary module inside the repository (so `@tierbus/*` and `zod` resolve as in an
 * app), returns its type errors (empty when it type-checks) and hands its import to `use`; removes it after.
 */
export async function withDocModule<T>(
  code: string,
  use: (diagnostics: string[], load: () => Promise<unknown>) => Promise<T>,
): Promise<T> {
  const dir = mkdtempSync(join(root, 'test', '.doc-'))
  const file = join(dir, 'example.ts')
  writeFileSync(file, code)
  try {
    const config = ts.readConfigFile(join(root, 'tsconfig.json'), ts.sys.readFile)
    const { options } = ts.parseJsonConfigFileContent(config.config, ts.sys, root)
    const program = ts.createProgram([file], { ...options, noEmit: true })
    const diagnostics = ts
      .getPreEmitDiagnostics(program)
      .map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'))
    return await use(diagnostics, () => import(pathToFileURL(file).href))
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
