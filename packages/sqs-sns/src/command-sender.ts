/**
 * What this module uses of an AWS SDK v3 command: the SDK's own `resolveMiddleware`, which `client.send` calls
 * for every command, and which the SDK's `cacheMiddleware` option calls once per command class.
 */
interface ResolvableCommand<Output> {
  resolveMiddleware(
    clientStack: never,
    configuration: never,
    options: object | undefined,
  ): (command: never) => Promise<{ readonly output: Output }>
}

/** What this module uses of an AWS SDK v3 client (SQSClient, SNSClient). */
interface SdkClient {
  // biome-ignore lint/suspicious/noExplicitAny: each SDK client's send is overloaded per command; any lets them all match
  send(command: any, options?: any): Promise<unknown>
  readonly middlewareStack: unknown
  readonly config: unknown
}

/**
 * Sends the commands of one class, always with the same options, on one client through a middleware handler
 * resolved once, as the SDK does for every command class when a client is created with `cacheMiddleware: true`.
 * `client.send` otherwise sorts and composes the client's whole middleware stack (~40 middlewares) for every
 * command: in bench/sqs.ts that was ~150 µs of CPU per ReceiveMessage, more than the rest of what tierbus
 * does for the 10 messages a receive brings. A consumer sends its receives and deletes thousands of times
 * with the same options, so the transport resolves them once per poller and once per transport.
 *
 * - Middleware added to the client after the first command of a class was sent does not apply to that class
 *   here: add middleware before creating the transport (the SDK says the same of `cacheMiddleware`).
 * - A client whose `send` is not the SDK's own (replaced on the instance or its class, as aws-sdk-client-mock
 *   and tracing wrappers do) gets every command through `send`, so what replaced it sees every call.
 */
export class CommandSender<Command extends ResolvableCommand<Output>, Output> {
  private handler: ((command: Command) => Promise<{ readonly output: Output }>) | undefined
  /** The SDK's `send`: the one deepest in the client's prototype chain. */
  private readonly sdkSend: unknown

  constructor(
    private readonly client: SdkClient,
    private readonly options?: object,
  ) {
    this.sdkSend = deepestSend(client)
  }

  send(command: Command): Promise<Output> {
    if (this.client.send !== this.sdkSend) return this.client.send(command, this.options) as Promise<Output>
    this.handler ??= command.resolveMiddleware(
      this.client.middlewareStack as never,
      this.client.config as never,
      this.options,
    ) as (command: Command) => Promise<{ readonly output: Output }>
    return this.handler(command).then(outputOf)
  }
}

function outputOf<Output>(result: { readonly output: Output }): Output {
  return result.output
}

function deepestSend(client: object): unknown {
  let send: unknown
  for (let o: object | null = client; o !== null; o = Object.getPrototypeOf(o)) {
    if (Object.hasOwn(o, 'send')) send = (o as SdkClient).send
  }
  return send
}
