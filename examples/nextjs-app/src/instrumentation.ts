/** Next.js calls this once when the server starts: a long-running server subscribes here. */
export async function register(): Promise<void> {
  if (process.env.NEXT_RUNTIME !== 'nodejs') return
  const { startAgents } = await import('./lib/bus')
  await startAgents()
}
