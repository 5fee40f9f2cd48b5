export async function register(): Promise<void> {
  if (process.env.NEXT_RUNTIME !== 'nodejs') return
  const { startConsumer } = await import('./lib/bus')
  await startConsumer()
}
