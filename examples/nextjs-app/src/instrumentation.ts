/** Next.js calls this once when the server starts: a long-running server subscribes here. */
export async function register(): Promise<void> {
  if (process.env.NEXT_RUNTIME !== 'nodejs') return
  if (!process.env.TIERBUS_ADMIN_TOKEN) {
    // Not fatal (the feedback form still works), but loud: every admin route refuses until it is set.
    console.error(
      '[signalsloop] TIERBUS_ADMIN_TOKEN is not set: the dashboard and /api/events/* refuse every request until you set it',
    )
  }
  const { startAgents } = await import('./lib/bus')
  startAgents()
}
