/**
 * The baseline of bench/sse.ts: a minimal Server-Sent Events server on node:http, no framework, no bus, no auth.
 * GET /stream holds a connection; POST /publish { text } writes one message to every open connection at once.
 * Run by bench/sse.ts as its own process: `node --import tsx bench/sse-raw-server.ts <port>`.
 */
import { randomUUID } from 'node:crypto'
import { createServer, type ServerResponse } from 'node:http'

const port = Number(process.argv[2])
const clients = new Set<ServerResponse>()

const server = createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/stream') {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
    })
    res.write('retry: 3000\n\n')
    clients.add(res)
    req.once('close', () => clients.delete(res))
    return
  }
  if (req.method === 'POST' && req.url === '/publish') {
    let body = ''
    req.setEncoding('utf8')
    req.on('data', (chunk: string) => (body += chunk))
    req.on('end', () => {
      const { text } = JSON.parse(body) as { text: string }
      const id = randomUUID()
      const message = {
        id,
        type: 'feedback.created',
        time: new Date().toISOString(),
        data: { feedbackId: id.slice(0, 8), text },
      }
      const frame = `id: ${id}\ndata: ${JSON.stringify(message)}\n\n`
      for (const client of clients) client.write(frame)
      res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ id }))
    })
    return
  }
  res.writeHead(404).end()
})
// As long as the bench's clients keep idle connections, so a reused connection is never closed under them.
server.keepAliveTimeout = 60_000
server.listen(port, '127.0.0.1', () => process.stdout.write('ready\n'))
