/**
 * Every Redis command and Lua script the transport sends, in one place. Scripts are used where a step
 * must be atomic or must not run when an earlier one failed (a `MULTI` would run the `XACK` even after
 * a failed `XADD` to the dead-letter stream, since Redis transactions do not stop on a command error).
 * Each script names its keys in KEYS, so it runs on Redis Cluster when the prefix is a hash tag.
 */
import type { RedisCommand } from './client.js'
import type { RetentionPolicy } from './options.js'

/** Field of a stream entry that holds the encoded envelope. */
export const PAYLOAD_FIELD = 'payload'

/** Appends one encoded envelope to its stream (retention trims later, see `TRIM_SCRIPT`). */
export function xadd(stream: string, payload: string): RedisCommand {
  return ['XADD', stream, '*', PAYLOAD_FIELD, payload]
}

/** The arguments of `TRIM_SCRIPT` for a retention policy (none when it keeps everything). */
export function trimScriptArgs(
  retention: RetentionPolicy,
  batch: number,
  now = Date.now(),
): Array<string | number> | undefined {
  if (retention === false) return undefined
  const unread = retention.trimUnread ? '1' : '0'
  if ('maxLen' in retention) return ['len', retention.maxLen, now, unread, batch]
  return ['age', retention.maxAgeMs, now, unread, batch]
}

/**
 * Retention of one stream, aware of its consumer groups. The policy's cut (entries past `maxLen`, up to
 * `batch` of the oldest per run; or older than `maxAgeMs`) is held back at the oldest entry some group
 * has not settled (its oldest pending entry, or the entry after its last delivered one), unless
 * `trimUnread` is '1': then the cut is made and what it removed unsettled is counted, per group.
 * Returns `{ removed, removedUnread, held }` (held = 1 when a group's backlog kept entries the policy would drop).
 * KEYS: [stream]. ARGV: 'len' | 'age', limit, now (ms), trimUnread ('1' / '0'), batch.
 */
export const TRIM_SCRIPT = `
local function parse(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq), ms
end
local function less(a, b)
  local am, as = parse(a)
  local bm, bs = parse(b)
  return am < bm or (am == bm and as < bs)
end
local function after(id)
  local _, seq, ms = parse(id)
  return ms .. '-' .. (seq + 1)
end
local key, mode, limit, now, trimUnread, batch = KEYS[1], ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4] == '1', tonumber(ARGV[5])
local cut
if mode == 'len' then
  local excess = redis.call('XLEN', key) - limit
  if excess <= 0 then return { 0, 0, 0 } end
  local r = redis.call('XRANGE', key, '-', '+', 'COUNT', math.min(excess, batch))
  if #r == 0 then return { 0, 0, 0 } end
  cut = after(r[#r][1])
else
  cut = math.max(0, now - limit) .. '-0'
end
local floors = {}
local safe
local groups = redis.pcall('XINFO', 'GROUPS', key)
if type(groups) == 'table' and not groups.err then
  for _, g in ipairs(groups) do
    local name, pending, last
    for i = 1, #g, 2 do
      if g[i] == 'name' then name = g[i + 1] elseif g[i] == 'pending' then pending = g[i + 1] elseif g[i] == 'last-delivered-id' then last = g[i + 1] end
    end
    local floor = after(last)
    if pending > 0 then
      local p = redis.call('XPENDING', key, name)
      if p[2] and less(p[2], floor) then floor = p[2] end
    end
    floors[#floors + 1] = { name, floor, last }
    if not safe or less(floor, safe) then safe = floor end
  end
end
local unread, held = 0, 0
if safe and less(safe, cut) then
  if trimUnread then
    -- Pending ids outlive their entries: only those whose entry is still here are counted (once).
    local first = redis.call('XRANGE', key, '-', '+', 'COUNT', 1)[1]
    for _, f in ipairs(floors) do
      if first and less(f[2], cut) then
        unread = unread + #redis.call('XPENDING', key, f[1], first[1], '(' .. cut, batch)
        if less(f[3], cut) then unread = unread + #redis.call('XRANGE', key, '(' .. f[3], '(' .. cut, 'COUNT', batch) end
      end
    end
  else
    cut = safe
    held = 1
  end
end
local removed = redis.call('XTRIM', key, 'MINID', cut)
return { removed, unread, held }
`

/** Creates a consumer group (and the stream, if missing) starting at `startId` (`$` latest, `0` earliest). */
export function xgroupCreate(stream: string, group: string, startId: '$' | '0'): RedisCommand {
  return ['XGROUP', 'CREATE', stream, group, startId, 'MKSTREAM']
}

/** Reads up to `count` never-delivered entries from every stream, blocking up to `blockMs` when given. */
export function xreadgroup(
  group: string,
  consumer: string,
  count: number,
  blockMs: number | undefined,
  streams: readonly string[],
): RedisCommand {
  const block = blockMs !== undefined && blockMs > 0 ? ['BLOCK', Math.ceil(blockMs)] : []
  return [
    'XREADGROUP',
    'GROUP',
    group,
    consumer,
    'COUNT',
    count,
    ...block,
    'STREAMS',
    ...streams,
    ...streams.map(() => '>'),
  ]
}

/** Acknowledges entries of one stream for a group. */
export function xack(stream: string, group: string, ids: readonly string[]): RedisCommand {
  return ['XACK', stream, group, ...ids]
}

/** `EVAL` of a script with its keys and arguments. */
export function evalScript(
  script: string,
  keys: readonly string[],
  args: ReadonlyArray<string | number>,
): RedisCommand {
  return ['EVAL', script, keys.length, ...keys, ...args]
}

/**
 * Lua shared by the reclaim scripts: `reclaim(stream)` claims up to `want` entries of one stream idle for
 * `minIdle`, following its XAUTOCLAIM cursor, into `out` as `{stream, id, fields, deliveries}`, and acks
 * pending ids whose entry was trimmed away (counted in `trimmed`). Expects the locals group, consumer,
 * minIdle, want, out and trimmed.
 */
const LUA_RECLAIM_STREAM = `local function reclaim(stream)
  local cursor = '0-0'
  for round = 1, 10 do
    local r = redis.pcall('XAUTOCLAIM', stream, group, consumer, minIdle, cursor, 'COUNT', want)
    if type(r) ~= 'table' or r.err then break end
    for _, e in ipairs(r[2]) do
      local p = redis.call('XPENDING', stream, group, e[1], e[1], 1)
      local deliveries = 1
      if p[1] then deliveries = p[1][4] end
      out[#out + 1] = { stream, e[1], e[2], deliveries }
      want = want - 1
    end
    if r[3] then
      for _, id in ipairs(r[3]) do
        redis.call('XACK', stream, group, id)
        trimmed = trimmed + 1
      end
    end
    cursor = r[1]
    if cursor == '0-0' or want <= 0 then break end
  end
end
`

/**
 * Claims entries whose lease ran out (idle >= min-idle) across the given streams, up to `count` in all,
 * following each stream's XAUTOCLAIM cursor. Returns `{ {stream, id, fields, deliveries}..., trimmed }`:
 * `deliveries` is the entry's delivery count after the claim (the next `attempt`); `trimmed` counts
 * pending ids whose entry was trimmed away, which XAUTOCLAIM drops from the PEL and which are acked
 * here too so they can never block it.
 * KEYS: streams. ARGV: group, consumer, minIdleMs, count.
 */
export const RECLAIM_SCRIPT = `
local group, consumer, minIdle = ARGV[1], ARGV[2], ARGV[3]
local want = tonumber(ARGV[4])
local out, trimmed = {}, 0
${LUA_RECLAIM_STREAM}for k = 1, #KEYS do
  if want <= 0 then break end
  reclaim(KEYS[k])
end
return { out, trimmed }
`

/**
 * Sets the idle time of entries this consumer still owns, without counting a delivery: idle 0 renews a
 * lease (touch); idle leaseMs - delay makes the entry reclaimable (a retry) once delay has passed.
 * Entries another consumer took over meanwhile are left alone. Returns how many were updated.
 * KEYS: [stream]. ARGV: group, consumer, then pairs of (id, idleMs).
 */
export const SET_IDLE_SCRIPT = `
local n = 0
for i = 3, #ARGV, 2 do
  local id = ARGV[i]
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], id, id, 1)
  if p[1] and p[1][2] == ARGV[2] then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, id, 'IDLE', ARGV[i + 1], 'JUSTID')
    n = n + 1
  end
end
return n
`

/**
 * Lua: whether a string is valid UTF-8 as a strict decoder reads it (no overlongs, surrogates or code
 * points past U+10FFFF), and base64 of any string. A body that is not UTF-8 is stored as base64, so a
 * client that reads replies as UTF-8 text (ioredis, Upstash) can give back its exact bytes.
 */
export const LUA_BYTES_AS_TEXT = `
local function isUtf8(s)
  local i, n = 1, #s
  while i <= n do
    local c = s:byte(i)
    local len, lo, hi = 1, 0x80, 0xBF
    if c < 0x80 then len = 1
    elseif c >= 0xC2 and c <= 0xDF then len = 2
    elseif c >= 0xE0 and c <= 0xEF then
      len = 3
      if c == 0xE0 then lo = 0xA0 elseif c == 0xED then hi = 0x9F end
    elseif c >= 0xF0 and c <= 0xF4 then
      len = 4
      if c == 0xF0 then lo = 0x90 elseif c == 0xF4 then hi = 0x8F end
    else return false end
    if i + len - 1 > n then return false end
    for j = i + 1, i + len - 1 do
      local d = s:byte(j)
      if j == i + 1 then
        if d < lo or d > hi then return false end
      elseif d < 0x80 or d > 0xBF then return false end
    end
    i = i + len
  end
  return true
end
local B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
local function base64(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local q = { math.floor(n / 262144) % 64, math.floor(n / 4096) % 64, math.floor(n / 64) % 64, n % 64 }
    out[#out + 1] = B64:sub(q[1] + 1, q[1] + 1) .. B64:sub(q[2] + 1, q[2] + 1)
      .. (b and B64:sub(q[3] + 1, q[3] + 1) or '=') .. (c and B64:sub(q[4] + 1, q[4] + 1) or '=')
  end
  return table.concat(out)
end
`

/**
 * Writes a dead letter, then acks the entry: the XACK runs only if the XADD succeeded (a failing
 * redis.call aborts the script), so a dead letter is never lost between the two. For a malformed entry
 * the payload is copied from the stream itself (the client's copy is UTF-8-decoded text, which may have
 * replaced bytes) and stored as base64, with `encoding` = base64, when it is not valid UTF-8.
 * KEYS: [stream, dead-letter stream, dead-letter groups set]. ARGV: consumer group, entry id,
 * subscriber group, payload, reason JSON, failedAt, '1' when the entry is malformed.
 */
export const DEAD_LETTER_SCRIPT = `${LUA_BYTES_AS_TEXT}
local payload, encoding = ARGV[4], 'utf8'
if ARGV[7] == '1' then
  local e = redis.call('XRANGE', KEYS[1], ARGV[2], ARGV[2])
  if e[1] then
    local f = e[1][2]
    for i = 1, #f, 2 do if f[i] == 'payload' then payload = f[i + 1] end end
  end
  if not isUtf8(payload) then payload, encoding = base64(payload), 'base64' end
end
redis.call('XADD', KEYS[2], '*', 'payload', payload, 'encoding', encoding, 'reason', ARGV[5], 'consumerGroup', ARGV[1], 'stream', KEYS[1], 'entry', ARGV[2], 'failedAt', ARGV[6])
redis.call('SADD', KEYS[3], ARGV[3])
return redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
`

/**
 * Moves one dead letter to its consumer group's redrive stream (created with the group if missing),
 * then deletes it; 0 when it is gone already, or holds bytes that are not UTF-8 (no consumer could ever
 * decode them: they stay listed, for purge).
 * KEYS: [dead-letter stream, redrive stream]. ARGV: dead-letter id, consumer group.
 */
export const REDRIVE_SCRIPT = `
local e = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1])
if not e[1] then return 0 end
local fields = e[1][2]
local payload = ''
for i = 1, #fields, 2 do
  if fields[i] == 'payload' then payload = fields[i + 1] end
  if fields[i] == 'encoding' and fields[i + 1] == 'base64' then return 0 end
end
redis.pcall('XGROUP', 'CREATE', KEYS[2], ARGV[2], '0', 'MKSTREAM')
redis.call('XADD', KEYS[2], '*', 'payload', payload)
redis.call('XDEL', KEYS[1], ARGV[1])
return 1
`

/**
 * Removes this consumer from the group on each stream where it owns no pending entry (never one that
 * does: its entries would become unclaimable by name). Returns how many were removed.
 * KEYS: streams. ARGV: group, consumer.
 */
export const RELEASE_CONSUMER_SCRIPT = `
local n = 0
for k = 1, #KEYS do
  local p = redis.pcall('XPENDING', KEYS[k], ARGV[1], '-', '+', 1, ARGV[2])
  if type(p) == 'table' and not p.err and #p == 0 then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[k], ARGV[1], ARGV[2])
    n = n + 1
  end
end
return n
`

/**
 * Removes consumers that own no pending entry and were idle at least minIdleMs (crashed processes
 * leave them behind, named after a pid that is gone). Returns how many were removed.
 * KEYS: streams. ARGV: group, minIdleMs, the caller's own consumer name (kept).
 */
export const PRUNE_CONSUMERS_SCRIPT = `
local n = 0
local minIdle = tonumber(ARGV[2])
for k = 1, #KEYS do
  local info = redis.pcall('XINFO', 'CONSUMERS', KEYS[k], ARGV[1])
  if type(info) == 'table' and not info.err then
    for _, c in ipairs(info) do
      local name, pending, idle
      for i = 1, #c, 2 do
        if c[i] == 'name' then name = c[i + 1] elseif c[i] == 'pending' then pending = c[i + 1] elseif c[i] == 'idle' then idle = c[i + 1] end
      end
      if name ~= ARGV[3] and pending == 0 and idle ~= nil and idle >= minIdle then
        redis.call('XGROUP', 'DELCONSUMER', KEYS[k], ARGV[1], name)
        n = n + 1
      end
    end
  end
end
return n
`

/**
 * Drops an ephemeral subscription's group; deletes the stream and forgets its type when no group is
 * left on it (a request-reply inbox nobody else reads).
 * KEYS: [stream, types set]. ARGV: group, type.
 */
export const DROP_EPHEMERAL_SCRIPT = `
redis.pcall('XGROUP', 'DESTROY', KEYS[1], ARGV[1])
local groups = redis.pcall('XINFO', 'GROUPS', KEYS[1])
if type(groups) == 'table' and not groups.err and #groups == 0 then
  redis.call('DEL', KEYS[1])
  redis.call('SREM', KEYS[2], ARGV[2])
  return 1
end
return 0
`

/**
 * Publishes one delayed envelope that came due: removes it from the delayed set and appends it to its
 * stream, or does nothing when another process moved it first. Returns 1 when moved.
 * KEYS: [delayed set, stream, types set]. ARGV: member (the payload), type.
 */
export const MOVE_DELAYED_SCRIPT = `
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('XADD', KEYS[2], '*', 'payload', ARGV[1])
redis.call('SADD', KEYS[3], ARGV[2])
return 1
`

/**
 * Takes or keeps the ownership of streams for an ordered subscription: a key free (or already ours)
 * becomes ours for ttlMs. Returns 1/0 per key, in KEYS order.
 * KEYS: owner keys. ARGV: consumer, ttlMs.
 */
export const ACQUIRE_OWNERSHIP_SCRIPT = `
local out = {}
for k = 1, #KEYS do
  local v = redis.call('GET', KEYS[k])
  if v == ARGV[1] then
    redis.call('PEXPIRE', KEYS[k], ARGV[2])
    out[k] = 1
  elseif not v then
    redis.call('SET', KEYS[k], ARGV[1], 'PX', ARGV[2])
    out[k] = 1
  else
    out[k] = 0
  end
end
return out
`

/**
 * Renews (ARGV[2] = ttlMs) or releases (no ARGV[2]) one ownership if it is still ours; 0 when another
 * member holds it now (ours had run out).
 * KEYS: [owner key]. ARGV: consumer, ttlMs?.
 */
export const KEEP_OWNERSHIP_SCRIPT = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) else redis.call('DEL', KEYS[1]) end
return 1
`

/**
 * Reclaim for ordered subscriptions on streams they own: a stream whose pending entries of other
 * consumers (a previous owner's) are not all idle for minIdle yet is skipped whole, so its entries are
 * taken together, in id order, once that owner is surely gone; otherwise as RECLAIM_SCRIPT. Returns
 * `{ entries, trimmed, streams still holding other consumers' pending entries }`.
 * KEYS: streams. ARGV: group, consumer, minIdleMs, count.
 */
export const ORDERED_RECLAIM_SCRIPT = `
local group, consumer, minIdle = ARGV[1], ARGV[2], tonumber(ARGV[3])
local want = tonumber(ARGV[4])
local out, trimmed, busy = {}, 0, {}
${LUA_RECLAIM_STREAM}local function foreign(stream)
  local n, young = 0, false
  local p = redis.pcall('XPENDING', stream, group, '-', '+', 10000)
  if type(p) == 'table' and not p.err then
    for _, e in ipairs(p) do
      if e[2] ~= consumer then
        n = n + 1
        if e[3] < minIdle then young = true end
      end
    end
  end
  return n, young
end
for k = 1, #KEYS do
  local before, young = foreign(KEYS[k])
  if young or want <= 0 then
    if before > 0 then busy[#busy + 1] = KEYS[k] end
  else
    reclaim(KEYS[k])
    if before > 0 and foreign(KEYS[k]) > 0 then busy[#busy + 1] = KEYS[k] end
  end
end
return { out, trimmed, busy }
`
