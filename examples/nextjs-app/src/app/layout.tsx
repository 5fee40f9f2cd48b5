import type { ReactNode } from 'react'

export const metadata = { title: 'SignalsLoop on tierbus' }

export default function RootLayout({ children }: { children: ReactNode }) {
  return (
    <html lang="en">
      <body
        style={{
          fontFamily: 'system-ui, sans-serif',
          margin: '2rem auto',
          maxWidth: 980,
          padding: '0 1rem',
          color: '#1f2933',
        }}
      >
        <nav style={{ display: 'flex', gap: '1rem', marginBottom: '1.5rem' }}>
          <a href="/">Feedback</a>
          <a href="/dashboard">Dashboard</a>
        </nav>
        {children}
      </body>
    </html>
  )
}
