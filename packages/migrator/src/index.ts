export type { ClaimResult, DedupStore } from '@tierbus/core'
// The dedup store contract and its memory implementation live in core (the idempotent() middleware uses them too).
export { DEDUP_DEFAULTS, memoryDedupStore } from '@tierbus/core'
export type { AdvisedTier, Trigger, Verdict, Workload } from './advisor.js'
export {
  ADVISOR_THRESHOLDS,
  adviseTier,
  PROVISIONAL_BELOW_SECONDS,
  TIER_LADDER,
  workloadFromMetrics,
} from './advisor.js'
export type { BackfillOptions, BackfillProgress, HistoryRange, HistorySource } from './backfill.js'
export { BACKFILL_DEFAULTS, backfill, isHistorySource, progressBar } from './backfill.js'
export {
  MIGRATION_DEFAULTS,
  migrationAdapter,
  migrationStoreFromEnv,
  migrationTransportFromEnv,
  tierbusAdapters,
} from './env.js'
export type { MigratingTransport, MigratingTransportOptions, MigrationStats } from './migrating-transport.js'
export { migratingTransport, migrationCapabilities } from './migrating-transport.js'
export type { CostItem, OptionCost, PricedLoad } from './option-costs.js'
export { chooseBroker, priceOptions } from './option-costs.js'
export type { OutboxRelay, OutboxRelayOptions } from './outbox-relay.js'
export { OUTBOX_RELAY_DEFAULTS, startOutboxRelay } from './outbox-relay.js'
export type { PgLike, PostgresMigrationStoreOptions } from './pg-store.js'
export { postgresMigrationStore } from './pg-store.js'
export { assertPhaseStep, isPhaseStep, phaseChangeRefusal } from './phase-transitions.js'
export type { Phase } from './phases.js'
export { nextPhase, PHASE_BEHAVIOUR, PHASES, parseMigration, parsePhase, previousPhase } from './phases.js'
export { formatPlan } from './plan-format.js'
export type { CapacityPlan, Flow, PeakFlow } from './planner.js'
export { planCapacity } from './planner.js'
export type { BrokerSize, Figure, Fleet, Pricing } from './pricing.js'
export { DEFAULT_PRICING } from './pricing.js'
export type { MessageKind, MessageTypeProfile, WorkloadProfile } from './profile.js'
export { DEFAULT_LATENCY_MS, kindOf, parseProfile, parseRate, parseSize } from './profile.js'
export type { RedisLike, RedisMigrationStoreOptions } from './redis-store.js'
export { redisMigrationStore } from './redis-store.js'
export type { HybridCost, RouteTierCost } from './route-costs.js'
export { priceRoutes } from './route-costs.js'
export type { ClassLoad, Route, RoutePlan } from './routes.js'
export { chooseTier, recommendRoutes } from './routes.js'
export type { ShadowGroupReport, ShadowReport } from './shadow.js'
export { ShadowComparator } from './shadow.js'
export type { MigrationStore, PhaseChange } from './store.js'
export { memoryMigrationStore } from './store.js'
export type { PlannedTier, RouteNeed, RouteTier, TierTraits } from './tier-traits.js'
export { ROUTE_PREFERENCES, ROUTE_TIER_TRAITS } from './tier-traits.js'
