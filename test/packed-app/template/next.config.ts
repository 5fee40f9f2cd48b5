import type { NextConfig } from 'next'

// Deliberately nothing tierbus-specific: the tiers come in through `adapters` (static imports).
const config: NextConfig = {}

export default config
