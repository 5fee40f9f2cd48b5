// `npm run build`: builds every package under packages/ with its own `build` script, as many at once as the
// machine has cores, each as soon as the @tierbus packages it depends on are built (their .d.ts files are
// inputs of its declaration build). The example Next.js app is not built here: `npm run build:example`
// builds it, and the test that runs it builds it when it is missing.
import { spawn } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { join } from 'node:path'

const root = join(import.meta.dirname, '..')
const packages = readdirSync(join(root, 'packages'))
  .map((dir) => join(root, 'packages', dir))
  .filter((dir) => existsSync(join(dir, 'package.json')))
  .map((dir) => {
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'))
    const deps = Object.keys({ ...pkg.dependencies, ...pkg.peerDependencies, ...pkg.devDependencies })
    return { dir, name: pkg.name, deps, hasBuild: Boolean(pkg.scripts?.build) }
  })
  .filter((p) => p.hasBuild)

const names = new Set(packages.map((p) => p.name))
for (const p of packages) p.deps = p.deps.filter((d) => names.has(d) && d !== p.name)

const limit = Math.max(1, Number(process.env.TIERBUS_BUILD_JOBS) || availableParallelism())
const done = new Set()
const running = new Set()
const started = Date.now()

function build(p) {
  return new Promise((resolve, reject) => {
    const t0 = Date.now()
    const child = spawn('npm', ['run', 'build', '--silent'], { cwd: p.dir, stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', (d) => (output += d))
    child.stderr.on('data', (d) => (output += d))
    child.on('error', reject)
    child.on('exit', (code) => {
      if (code === 0) {
        console.log(`built ${p.name} in ${((Date.now() - t0) / 1000).toFixed(1)} s`)
        resolve()
      } else {
        reject(new Error(`building ${p.name} failed (exit ${code}):\n${output}`))
      }
    })
  })
}

await new Promise((resolve, reject) => {
  const pending = [...packages]
  const next = () => {
    if (pending.length === 0 && running.size === 0) return resolve()
    while (running.size < limit) {
      const i = pending.findIndex((p) => p.deps.every((d) => done.has(d)))
      if (i < 0) break
      const [p] = pending.splice(i, 1)
      running.add(p.name)
      build(p).then(() => {
        running.delete(p.name)
        done.add(p.name)
        next()
      }, reject)
    }
    if (running.size === 0 && pending.length > 0) {
      reject(new Error(`dependency cycle among: ${pending.map((p) => p.name).join(', ')}`))
    }
  }
  next()
}).catch((err) => {
  console.error(err.message)
  process.exit(1)
})
console.log(`built ${packages.length} packages in ${((Date.now() - started) / 1000).toFixed(1)} s (${limit} at a time)`)
