import { SNSClient } from '@aws-sdk/client-sns'
import { SQSClient } from '@aws-sdk/client-sqs'
import { uniqueToken } from '@tierbus/core/testing'
import { buildApp } from 'fauxqs'
import type { SqsTransportOptions } from '../src/options.js'
import { deleteNamespace } from '../src/provision.js'
import { type SqsTransport, sqsTransport } from '../src/transport.js'

/** Region and dummy credentials the emulator accepts (it does not check signatures). */
export const EMULATOR_AWS = Object.freeze({
  region: 'us-east-1',
  credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
})

/** A running fauxqs SQS/SNS emulator on loopback. */
export interface Emulator {
  readonly endpoint: string
  stop(): Promise<void>
}

/** Starts fauxqs on 127.0.0.1 with a free port (never 0.0.0.0, unlike its startFauxqs()). */
export async function startEmulator(): Promise<Emulator> {
  const app = buildApp({ logger: false, defaultRegion: EMULATOR_AWS.region })
  const endpoint = await app.listen({ port: 0, host: '127.0.0.1' })
  return { endpoint, stop: () => app.close() }
}

/** SDK clients pointed at the emulator. */
export function emulatorClients(endpoint: string): { sqs: SQSClient; sns: SNSClient } {
  return { sqs: new SQSClient({ ...EMULATOR_AWS, endpoint }), sns: new SNSClient({ ...EMULATOR_AWS, endpoint }) }
}

/**
 * A transport on a fresh random namespace; closing it also deletes the namespace's topic and
 * queues, so tests leave nothing behind.
 */
export async function isolatedTransport(endpoint: string, options: SqsTransportOptions = {}): Promise<SqsTransport> {
  const { sqs, sns } = options.client ?? emulatorClients(endpoint)
  const transport = await sqsTransport({
    prefix: uniqueToken('tb'),
    onError: () => {},
    ...options,
    client: { sqs, sns },
  })
  const close = transport.close.bind(transport)
  let closing: Promise<void> | undefined
  return Object.assign(transport, {
    close: () =>
      (closing ??= (async () => {
        await close()
        await deleteNamespace({ sqs, sns, owned: false }, transport.prefix, transport.fifo)
        sqs.destroy()
        sns.destroy()
      })()),
  })
}

/** An emulator whose HTTP server can be taken down and brought back on the same port, its queues intact (outage tests). */
export interface RestartableEmulator extends Emulator {
  /** Closes the listening socket and drops every open connection (in-flight long polls fail). */
  stopListening(): Promise<void>
  /** Listens again on the same port; the emulator's state (queues, messages in flight) is kept. */
  listenAgain(): Promise<void>
}

/** Starts fauxqs on 127.0.0.1 with a free port, restartable in place. */
export async function startRestartableEmulator(): Promise<RestartableEmulator> {
  const app = buildApp({ logger: false, defaultRegion: EMULATOR_AWS.region })
  const endpoint = await app.listen({ port: 0, host: '127.0.0.1' })
  const port = Number(new URL(endpoint).port)
  return {
    endpoint,
    stop: async () => {
      if (!app.server.listening) await new Promise<void>((resolve) => app.server.listen(port, '127.0.0.1', resolve))
      await app.close()
    },
    stopListening: () =>
      new Promise<void>((resolve) => {
        app.server.close(() => resolve())
        app.server.closeAllConnections()
      }),
    listenAgain: () => new Promise<void>((resolve) => app.server.listen(port, '127.0.0.1', resolve)),
  }
}
