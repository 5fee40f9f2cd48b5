/**
 * A test-only server that speaks the Upstash Redis REST protocol on top of the real local Redis, for
 * running the Upstash transport against real Redis semantics. No maintained local Upstash-REST server
 * is installable from npm or Debian here, so this small bridge stands in (see docs/tiers/redis.md).
 *
 * Protocol (as @upstash/redis uses it): `POST /` with a JSON command array → `{ result }` or HTTP 400
 * `{ error }`; `POST /pipeline` and `POST /multi-exec` with an array of command arrays → an array of
 * `{ result }` / `{ error }`; `Authorization: Bearer <token>`; with the `Upstash-Encoding: base64`
 * request header every string in a result is base64-encoded (except the status reply `OK`).
 * Replies are RESP2-shaped, as Upstash's are.
 */
import { randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Redis } from 'ioredis'

/** A running bridge: point an Upstash client at `url` with `token`. */
export interface UpstashBridge {
  readonly url: string
  readonly token: string
  /** Requests served, by path (to show the transport really went over HTTP). */
  readonly requests: Record<string, number>
  close(): Promise<void>
}

type Command = Array<string | number>

function encodeBase64(value: unknown): unknown {
  if (typeof value === 'string') return value === 'OK' ? value : Buffer.from(value, 'utf8').toString('base64')
  if (Array.isArray(value)) return value.map(encodeBase64)
  return value
}

function isCommand(value: unknown): value is Command {
  return Array.isArray(value) && value.length > 0 && value.every((v) => typeof v === 'string' || typeof v === 'number')
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = []
  for await (const chunk of req) chunks.push(chunk as Buffer)
  return JSON.parse(Buffer.concat(chunks).toString('utf8'))
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

/** Starts the bridge on 127.0.0.1 (a free port), forwarding to the Redis at `redisUrl`. */
export async function startUpstashBridge(redisUrl: string): Promise<UpstashBridge> {
  // RESP2 and upper-case command names: ioredis then hands back the raw reply, untransformed, as Upstash would.
  const redis = new Redis(redisUrl, { protocol: 2, connectionName: 'tierbus-upstash-bridge' })
  const token = randomBytes(16).toString('hex')
  const requests: Record<string, number> = {}
  const run = (command: Command) => redis.call(String(command[0]).toUpperCase(), ...command.slice(1))

  const server = createServer((req, res) => {
    void (async () => {
      const path = (req.url ?? '/').split('?')[0]!
      requests[path] = (requests[path] ?? 0) + 1
      if (req.method !== 'POST') return send(res, 405, { error: 'ERR only POST is supported by this bridge' })
      if (req.headers.authorization !== `Bearer ${token}`) return send(res, 401, { error: 'Unauthorized' })
      const encode = req.headers['upstash-encoding'] === 'base64' ? encodeBase64 : (v: unknown) => v
      let body: unknown
      try {
        body = await readJson(req)
      } catch (err) {
        return send(res, 400, { error: `ERR invalid JSON body: ${(err as Error).message}` })
      }
      if (path === '/') {
        if (!isCommand(body)) return send(res, 400, { error: 'ERR the body must be a command array' })
        try {
          return send(res, 200, { result: encode(await run(body)) })
        } catch (err) {
          return send(res, 400, { error: (err as Error).message })
        }
      }
      if (path === '/pipeline' || path === '/multi-exec') {
        if (!Array.isArray(body) || !body.every(isCommand))
          return send(res, 400, { error: 'ERR the body must be an array of command arrays' })
        const batch = path === '/pipeline' ? redis.pipeline() : redis.multi()
        for (const command of body) batch.call(String(command[0]).toUpperCase(), ...command.slice(1))
        try {
          const results = (await batch.exec()) ?? []
          return send(
            res,
            200,
            results.map(([err, value]) => (err ? { error: err.message } : { result: encode(value) })),
          )
        } catch (err) {
          return send(res, 400, { error: (err as Error).message })
        }
      }
      return send(res, 404, { error: `ERR unknown path ${path}` })
    })().catch((err: unknown) => send(res, 500, { error: String(err) }))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    token,
    requests,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
      await redis.quit()
    },
  }
}
