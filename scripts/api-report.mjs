// API reports: the public surface of every entry point of every package (the "exports" map of its
// package.json), as api-extractor sees it in the built .d.ts files. Run after `npm run build`.
//   node scripts/api-report.mjs          check: fails when a surface changed and its report was not updated
//   node scripts/api-report.mjs --update  write the reports (packages/<pkg>/api/*.api.md) after a deliberate change
// It also writes the doc model (temp/api-model/*.api.json) that `npm run docs:api` renders into docs/api/.
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { Extractor, ExtractorConfig } from '@microsoft/api-extractor'

const root = join(import.meta.dirname, '..')
const update = process.argv.includes('--update')
const modelDir = join(root, 'temp', 'api-model')
mkdirSync(modelDir, { recursive: true })

/** Entry points of a package: `.` → index, `./testing` → testing, with the .d.ts file each resolves to. */
function entries(dir) {
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'))
  const out = []
  for (const [subpath, target] of Object.entries(pkg.exports ?? {})) {
    const types = target?.import?.types
    if (typeof types !== 'string') continue
    const name = subpath === '.' ? 'index' : subpath.slice(2).replaceAll('/', '-')
    out.push({ pkg, name, dts: join(dir, types) })
  }
  return out
}

let failed = 0
let changed = 0
for (const dirName of readdirSync(join(root, 'packages')).sort()) {
  const dir = join(root, 'packages', dirName)
  if (!existsSync(join(dir, 'package.json'))) continue
  for (const entry of entries(dir)) {
    if (!existsSync(entry.dts)) {
      console.error(`api-report: ${relative(root, entry.dts)} is missing: run \`npm run build\` first`)
      failed++
      continue
    }
    const reportFileName = `${entry.name}.api.md`
    const config = ExtractorConfig.prepare({
      configObject: {
        projectFolder: dir,
        mainEntryPointFilePath: entry.dts,
        compiler: {
          overrideTsconfig: { compilerOptions: { skipLibCheck: true, types: ['node'] }, include: [entry.dts] },
        },
        apiReport: {
          enabled: true,
          reportFolder: join(dir, 'api'),
          reportTempFolder: join(root, 'temp', 'api-report', dirName),
          reportFileName,
        },
        docModel: {
          enabled: entry.name === 'index',
          apiJsonFilePath: join(modelDir, `${dirName}.api.json`),
        },
        dtsRollup: { enabled: false },
        tsdocMetadata: { enabled: false },
        messages: {
          // Reports list what the surface is; the doc comments' TSDoc style is not policed here.
          tsdocMessageReporting: { default: { logLevel: 'none' } },
          extractorMessageReporting: {
            default: { logLevel: 'warning', addToApiReportFile: true },
            'ae-missing-release-tag': { logLevel: 'none' },
            'ae-forgotten-export': { logLevel: 'none', addToApiReportFile: false },
            // Its notes carry .d.ts line numbers, which move with any build change: the report would churn.
            'ae-undocumented': { logLevel: 'none', addToApiReportFile: false },
          },
          compilerMessageReporting: { default: { logLevel: 'warning' } },
        },
      },
      configObjectFullPath: undefined,
      packageJsonFullPath: join(dir, 'package.json'),
    })
    mkdirSync(join(dir, 'api'), { recursive: true })
    const result = Extractor.invoke(config, { localBuild: update, showVerboseMessages: false, messageCallback: quiet })
    if (result.apiReportChanged) {
      changed++
      if (!update) {
        console.error(
          `api-report: the public API of ${entry.pkg.name} (${entry.name}) changed: review it and run \`npm run api:update\``,
        )
      }
    }
    if (!result.succeeded && !(update && result.apiReportChanged)) failed++
  }
}

/** Keeps the console to what needs action: api-extractor's own progress lines are dropped. */
function quiet(message) {
  if (message.logLevel === 'info' || message.logLevel === 'verbose') message.handled = true
}

if (failed > 0) process.exit(1)
console.log(update ? `api-report: ${changed} report(s) updated` : 'api-report: every public API matches its report')
