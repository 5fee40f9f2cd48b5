import { ConfigError } from '@tierbus/core'
import { DiscardPolicy, type JetStreamManager, nanos, RetentionPolicy, StorageType, type StreamConfig } from 'nats'
import {
  ERR_STREAM_NAME_IN_USE,
  ERR_STREAM_NOT_FOUND,
  ERR_SUBJECTS_OVERLAP,
  jetStreamCode,
  StreamSubjectsOverlapError,
  transportError,
} from './errors.js'
import type { ResolvedNatsOptions } from './options.js'
import { type SubjectMap, subjectsOverlap, subjectWithin } from './subjects.js'

/** A stream as the transport uses it: its name and the NATS subjects it holds. */
export interface StreamLayout {
  readonly name: string
  readonly subjects: readonly string[]
}

/** The event streams and the dead-letter stream of one transport. */
export interface StreamPlan {
  readonly events: readonly (StreamLayout & { readonly config: Partial<StreamConfig> })[]
  readonly deadLetters: StreamLayout & { readonly config: Partial<StreamConfig> }
}

/** Builds the stream configs from the options, rejecting families that overlap each other. */
export function planStreams(options: ResolvedNatsOptions, subjects: SubjectMap): StreamPlan {
  const events = options.streams.map((family) => {
    const streamSubjects = family.types.map((t) => subjects.subjectFor(t))
    return {
      name: family.name,
      subjects: streamSubjects,
      config: {
        name: family.name,
        subjects: streamSubjects,
        retention: family.retention === 'interest' ? RetentionPolicy.Interest : RetentionPolicy.Limits,
        storage: family.storage === 'memory' ? StorageType.Memory : StorageType.File,
        max_age: nanos(family.maxAgeMs),
        max_bytes: family.maxBytes,
        num_replicas: family.replicas,
        discard: DiscardPolicy.Old,
        duplicate_window: nanos(Math.min(options.duplicateWindowMs, family.maxAgeMs || options.duplicateWindowMs)),
      } satisfies Partial<StreamConfig>,
    }
  })
  for (const [i, earlier] of events.entries()) {
    for (const later of events.slice(i + 1)) {
      for (const s of earlier.subjects) {
        if (later.subjects.some((t) => subjectsOverlap(s, t))) {
          throw new StreamSubjectsOverlapError(later.name, later.subjects, earlier.name)
        }
      }
    }
  }
  const dlqSubjects = [`${subjects.deadLetterRoot}.>`]
  return {
    events,
    deadLetters: {
      name: options.deadLetterStream,
      subjects: dlqSubjects,
      config: {
        name: options.deadLetterStream,
        subjects: dlqSubjects,
        retention: RetentionPolicy.Limits,
        storage: StorageType.File,
        max_age: nanos(options.deadLetterMaxAgeMs),
        discard: DiscardPolicy.Old,
      },
    },
  }
}

/**
 * Creates each stream, or updates it when it exists with another configuration, so the options are
 * the source of truth. Overlapping subjects fail with a StreamSubjectsOverlapError naming the culprit.
 */
export async function ensureStreams(jsm: JetStreamManager, plan: StreamPlan): Promise<void> {
  for (const stream of [...plan.events, plan.deadLetters]) {
    try {
      await jsm.streams.add(stream.config)
    } catch (err) {
      const code = jetStreamCode(err)
      if (code === ERR_STREAM_NAME_IN_USE) {
        try {
          await jsm.streams.update(stream.name, stream.config)
          continue
        } catch (updateErr) {
          if (jetStreamCode(updateErr) === ERR_SUBJECTS_OVERLAP) throw await overlapError(jsm, stream, updateErr)
          throw new ConfigError(
            `JetStream stream ${stream.name} exists with a configuration tierbus cannot change (${(updateErr as Error).message}): delete it (nats stream rm ${stream.name}) or match its settings in the transport options`,
            { cause: updateErr },
          )
        }
      }
      if (code === ERR_SUBJECTS_OVERLAP) throw await overlapError(jsm, stream, err)
      throw transportError(`creating stream ${stream.name}`, err)
    }
  }
}

async function overlapError(
  jsm: JetStreamManager,
  stream: StreamLayout,
  cause: unknown,
): Promise<StreamSubjectsOverlapError> {
  let existing: string | undefined
  for (const subject of stream.subjects) {
    existing = await jsm.streams.find(subject).catch(() => undefined)
    if (existing && existing !== stream.name) break
    existing = undefined
  }
  return new StreamSubjectsOverlapError(stream.name, stream.subjects, existing, { cause })
}

/** Deletes streams, ignoring ones already gone. */
export async function deleteStreams(jsm: JetStreamManager, names: readonly string[]): Promise<void> {
  for (const name of names) {
    try {
      await jsm.streams.delete(name)
    } catch (err) {
      if (jetStreamCode(err) !== ERR_STREAM_NOT_FOUND) throw transportError(`deleting stream ${name}`, err)
    }
  }
}

/** The event stream whose subjects hold every subject `filter` matches, or a ConfigError saying which families exist. */
export function streamFor(plan: StreamPlan, filter: string, pattern: string): string {
  const stream = plan.events.find((s) => s.subjects.some((subject) => subjectWithin(filter, subject)))
  if (!stream) {
    throw new ConfigError(
      `no JetStream stream holds every event matching '${pattern}': the streams are ${plan.events.map((s) => `${s.name} (${s.subjects.join(', ')})`).join('; ')}. Subscribe to a narrower pattern or add a stream family whose types cover it`,
    )
  }
  return stream.name
}
