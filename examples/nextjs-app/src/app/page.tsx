'use client'

import { type FormEvent, useEffect, useState } from 'react'

type Result = { feedbackId: string; text: string; sentiment: string; attempt: number; at: string }

export default function FeedbackPage() {
  const [text, setText] = useState('')
  const [status, setStatus] = useState('')
  const [results, setResults] = useState<Result[]>([])

  useEffect(() => {
    const load = () =>
      fetch('/api/feedback', { cache: 'no-store' })
        .then((r) => r.json())
        .then((b: { results: Result[] }) => setResults(b.results))
        .catch(() => {})
    load()
    const timer = setInterval(load, 500)
    return () => clearInterval(timer)
  }, [])

  async function submit(event: FormEvent) {
    event.preventDefault()
    const res = await fetch('/api/feedback', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text }),
    })
    const body = (await res.json()) as { feedbackId?: string; error?: string }
    setStatus(res.ok ? `sent ${body.feedbackId}` : `rejected: ${body.error}`)
    if (res.ok) setText('')
  }

  return (
    <main>
      <h1>Send feedback</h1>
      <form onSubmit={submit} style={{ display: 'flex', gap: '0.5rem' }}>
        <input
          data-testid="feedback-text"
          value={text}
          onChange={(e) => setText(e.target.value)}
          placeholder="What do you think?"
          style={{ flex: 1, padding: '0.5rem' }}
        />
        <button data-testid="feedback-submit" type="submit">
          Send
        </button>
      </form>
      <p data-testid="feedback-status">{status}</p>
      <h2>Processed by sentiment-agent</h2>
      <ul data-testid="results">
        {results.map((r) => (
          <li key={`${r.feedbackId}-${r.at}`} data-testid="result">
            <strong>{r.sentiment}</strong> — {r.text}{' '}
            <small>
              ({r.feedbackId}, attempt {r.attempt})
            </small>
          </li>
        ))}
      </ul>
    </main>
  )
}
