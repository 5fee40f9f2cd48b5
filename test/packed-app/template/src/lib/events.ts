import { defineEvent } from '@tierbus/core'
import { z } from 'zod'

// Event definitions alone, so the edge route can import them without the Node tiers in lib/bus.ts.
export const OrderPlaced = defineEvent('order.placed', z.object({ run: z.string(), n: z.number().int() }))
