import type { Channel, ConsumeMessage } from 'amqplib'
import { describe, expect, it } from 'vitest'
import { ChannelAcks } from '../src/acks.js'

/** A channel that records what would go to the broker: `ack 5+` is a multiple ack up to tag 5. */
function recordingChannel(): { channel: Channel; sent: string[] } {
  const sent: string[] = []
  const channel = {
    ack: (m: ConsumeMessage, allUpTo?: boolean) => void sent.push(`ack ${m.fields.deliveryTag}${allUpTo ? '+' : ''}`),
    nack: (m: ConsumeMessage) => void sent.push(`nack ${m.fields.deliveryTag}`),
  } as unknown as Channel
  return { channel, sent }
}

const msg = (tag: number) => ({ fields: { deliveryTag: tag } }) as ConsumeMessage
const tick = () => new Promise<void>((r) => process.nextTick(r))

describe('ChannelAcks', () => {
  it('sends the acks of one turn as one multiple ack on the next tick', async () => {
    const { channel, sent } = recordingChannel()
    const acks = new ChannelAcks(channel)
    for (let t = 1; t <= 4; t++) acks.received(msg(t))
    for (const t of [2, 1, 4, 3]) acks.ack(msg(t))
    expect(sent).toEqual([])
    await tick()
    expect(sent).toEqual(['ack 4+'])
  })

  it('never covers a delivery that is still open: later acks go alone', async () => {
    const { channel, sent } = recordingChannel()
    const acks = new ChannelAcks(channel)
    for (let t = 1; t <= 5; t++) acks.received(msg(t))
    for (const t of [1, 2, 4, 5]) acks.ack(msg(t))
    await tick()
    expect(sent).toEqual(['ack 2+', 'ack 4', 'ack 5'])
    // 3 settles later: alone or as a multiple ack, it covers nothing else that is open.
    acks.received(msg(6))
    acks.ack(msg(3))
    await tick()
    expect(sent.slice(3)).toEqual(['ack 3+'])
    acks.ack(msg(6))
    await tick()
    expect(sent.slice(4)).toEqual(['ack 6+'])
  })

  it('does not pass a delivery that was handed back, and sends earlier acks before the nack', async () => {
    const { channel, sent } = recordingChannel()
    const acks = new ChannelAcks(channel)
    for (let t = 1; t <= 4; t++) acks.received(msg(t))
    acks.ack(msg(1))
    acks.nack(msg(2))
    acks.ack(msg(4))
    await tick()
    // 2 is settled (requeued) but 3 is still open: 4 goes alone.
    expect(sent).toEqual(['ack 1+', 'nack 2', 'ack 4'])
    acks.ack(msg(3))
    await tick()
    expect(sent.slice(3)).toEqual(['ack 3+'])
  })

  it('leaves a delivery open that is waiting or unsettled, and flush() sends at once (before a close)', () => {
    const { channel, sent } = recordingChannel()
    const acks = new ChannelAcks(channel)
    for (let t = 1; t <= 3; t++) acks.received(msg(t))
    acks.ack(msg(2))
    acks.ack(msg(3))
    acks.flush()
    expect(sent).toEqual(['ack 2', 'ack 3'])
  })

  it('falls back to single acks for good once the tags are not 1, 2, 3 ...', async () => {
    const { channel, sent } = recordingChannel()
    const acks = new ChannelAcks(channel)
    acks.received(msg(1))
    acks.received(msg(3))
    acks.ack(msg(1))
    acks.ack(msg(3))
    await tick()
    expect(sent).toEqual(['ack 1', 'ack 3'])
  })

  it('swallows a closed channel (the broker requeued everything unacked)', async () => {
    const acks = new ChannelAcks({
      ack: () => {
        throw new Error('Channel closed')
      },
      nack: () => {
        throw new Error('Channel closed')
      },
    } as unknown as Channel)
    acks.received(msg(1))
    acks.received(msg(2))
    acks.ack(msg(1))
    acks.nack(msg(2))
    await tick()
    acks.flush()
  })
})
