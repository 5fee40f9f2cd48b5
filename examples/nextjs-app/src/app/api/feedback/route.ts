import { randomUUID } from 'node:crypto'
import { ValidationError } from '@tierbus/core'
import { getBus, state } from '@/lib/bus'
import { FeedbackCreated } from '@/lib/events'

export const dynamic = 'force-dynamic'

/** Submit feedback: publishes feedback.created (validated before it leaves). */
export async function POST(request: Request): Promise<Response> {
  const body = (await request.json().catch(() => ({}))) as { text?: unknown }
  try {
    const bus = await getBus()
    const sent = await bus.publish(FeedbackCreated, {
      feedbackId: `fb-${randomUUID().slice(0, 8)}`,
      text: String(body.text ?? ''),
    })
    return Response.json({ id: sent.id, feedbackId: sent.data.feedbackId }, { status: 201 })
  } catch (err) {
    if (err instanceof ValidationError) return Response.json({ error: err.message }, { status: 400 })
    throw err
  }
}

/** What the sentiment agent produced so far. */
export async function GET(): Promise<Response> {
  return Response.json({ results: state.results }, { headers: { 'cache-control': 'no-store' } })
}
