"""Key layout, value encoding and Lua scripts of ``RedisStore``.

Every key starts with ``dl:``. Keys of one user share the hash tag ``{u:<user>}``, keys of one
thread ``{t:<id>}``, of one live ``{l:<id>}``, of one fan-out job ``{j:<share id>}``, so a command
or script touching several keys of one object stays in one Redis Cluster slot. Values that are
records are msgpack.

==============================  =====  ==========================================================
key                             type   content
==============================  =====  ==========================================================
dl:{u:U}:s                      hash   settings ``p`` private, ``a`` allow_sharing ("0"/"1");
                                       its existence is the user's existence
dl:{u:U}:followers              zset   followers of U (score 0: paged in id order, BYLEX)
dl:{u:U}:following              zset   users U follows (score 0)
dl:{u:U}:requests               zset   pending follow requests to U (score 0)
dl:{u:U}:blocks                 set    users U blocked
dl:{u:U}:allowed                set    senders whose message request U accepted
dl:{u:U}:inbox                  zset   thread id -> seq of last activity
dl:{u:U}:msgreq                 zset   thread id -> seq (message requests)
dl:{u:U}:unread                 hash   thread id -> unread count (inbox threads only)
dl:{u:U}:feed                   zset   share id -> seq (shares to all followers reaching U)
dl:{u:U}:lives                  set    U's running lives
dl:{n:N}:lives                  set    lives running on node N (ended at its restart)
dl:{n:N}:online                 set    users online on node N (cleared at its restart)
dl:online                       hash   user -> msgpack list of nodes where the user is online
                                       (presence; offline users are absent)
dl:seq                          str    global counter ordering messages, threads, shares
dl:dm:<A>:<B>                   str    id of the 1:1 thread of A < B (SET NX)
dl:{t:T}:meta                   hash   ``kind``, ``creator``, ``name``, ``cseq``
dl:{t:T}:members                hash   member -> state ``i`` inbox / ``r`` request / ``d`` declined
dl:{t:T}:msgs                   zset   msgpack [seq, sender, kind, text, live, sent_at, post]
                                       by seq (post: id of a ``post`` message's post)
dl:{l:L}                        hash   live: ``host``, ``ended``, ``vc``, ``t0``, ``t1``,
                                       ``guests`` (msgpack list), ``fs`` all-followers share id
dl:{l:L}:reach                  set    users sent the live or who watched it
dl:{j:S}                        hash   job: ``live``, ``sender``, ``seq``, ``cursor``,
                                       ``delivered``, ``done``
dl:{j:S}:lease                  str    node running the job (PX expiry)
dl:jobs                         set    unfinished job ids
==============================  =====  ==========================================================

Bus channels (Pub/Sub, msgpack payloads): ``dl:bus:<node>`` for one node, ``dl:bus:all``.

Not Redis-Cluster-safe, and fine on standalone or replicated Redis: two scripts derive
per-user keys from ids inside Redis instead of declaring them in KEYS (the fan-out chunk, one
call writing a whole chunk of followers' feed entries, and the bulk follower import); the
CREATE_JOB script (a live, its job and the pending set, created together); the presence script
(``dl:online`` and the node's set, updated together); and the MULTI transactions that write a
relation's two users, a thread with its members' boxes, or a message with its post. On a
Cluster they would become pipelines grouped by slot, giving up their atomicity. Everything
else touches one slot per command.
"""

from __future__ import annotations

from typing import Any

import msgpack

PREFIX = "dl:"
SEQ = "dl:seq"
JOBS = "dl:jobs"
BUS_ALL = "dl:bus:all"
ONLINE = "dl:online"


def user(u: str, what: str) -> str:
    return f"dl:{{u:{u}}}:{what}"


def node_lives(node: str) -> str:
    return f"dl:{{n:{node}}}:lives"


def node_presence(node: str) -> str:
    return f"dl:{{n:{node}}}:online"


def thread(t: str, what: str) -> str:
    return f"dl:{{t:{t}}}:{what}"


def live(live_id: str) -> str:
    return f"dl:{{l:{live_id}}}"


def reach(live_id: str) -> str:
    return f"dl:{{l:{live_id}}}:reach"


def job(share_id: str) -> str:
    return f"dl:{{j:{share_id}}}"


def lease(share_id: str) -> str:
    return f"dl:{{j:{share_id}}}:lease"


def dm(a: str, b: str) -> str:
    lo, hi = sorted((a, b))
    return f"dl:dm:{lo}:{hi}"


def bus(node: str) -> str:
    return f"dl:bus:{node}"


def pack(value: Any) -> bytes:
    return msgpack.packb(value, use_bin_type=True)


def unpack(data: Any) -> Any:
    return msgpack.unpackb(data, raw=False)


def text(value: Any, default: str = "") -> str:
    if value is None:
        return default
    return value.decode() if isinstance(value, bytes) else str(value)


# KEYS: the live, the new job, the pending jobs. ARGV: share id, live id, sender, seq.
# A live has one all-followers job: whoever claims the live's "fs" first creates it, in the
# same step, so concurrent shares cannot create two and a crash cannot leave half of one.
# Returns the share id of the live's job (an earlier one, or this one).
CREATE_JOB = """
local existing = redis.call('HGET', KEYS[1], 'fs')
if existing and existing ~= '' then return existing end
redis.call('HSET', KEYS[1], 'fs', ARGV[1])
redis.call('HSET', KEYS[2], 'live', ARGV[2], 'sender', ARGV[3], 'seq', ARGV[4],
           'cursor', '', 'delivered', 0, 'done', 0)
redis.call('SADD', KEYS[3], ARGV[1])
return ARGV[1]
"""

# KEYS: the job's lease. ARGV: node, ttl in ms. Takes a free lease or renews this node's own, in
# one step (a lease that expires between a check and a renewal cannot be extended for another
# node). Returns 1 if the node holds the lease.
CLAIM_JOB = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

# KEYS: job, followers of the sender, presence (dl:online).
# ARGV: share id, seq, limit, user key prefix, feed key suffix.
# One chunk of the job, from the cursor stored in the job (so chunks may be in flight
# concurrently: each takes the next followers when it runs): reads up to ``limit`` followers
# after it, adds each missing feed entry, advances cursor and delivered count. Returns
# {added, cursor, 1 if followers are left after it else 0, [user, nodes, ...] for added users
# online}. Feed keys are derived from follower ids inside the script (one call per chunk, tiny
# replies): fine on standalone or replicated Redis, not on Redis Cluster (module docstring).
# Presence is one hash (not a key per user) so that a chunk reads it in one command: with fewer
# users online than added here, all of it is read and matched (a small hash is a list, where
# one lookup per user would scan it); else one HMGET per 1000 added users.
FANOUT_CHUNK = """
local share, seq, limit = ARGV[1], ARGV[2], tonumber(ARGV[3])
local prefix, suffix = ARGV[4], ARGV[5]
local cursor = redis.call('HGET', KEYS[1], 'cursor')
if not cursor then return redis.error_reply('no such fan-out job') end
local start = '-'
if cursor ~= '' then start = '(' .. cursor end
local batch = redis.call('ZRANGE', KEYS[2], start, '+', 'BYLEX', 'LIMIT', 0, limit + 1)
local more = 0
if #batch > limit then
  more = 1
  batch[#batch] = nil
end
local call, added, n = redis.call, {}, 0
for i = 1, #batch do
  local u = batch[i]
  if call('ZADD', prefix .. u .. suffix, 'NX', seq, share) == 1 then
    n = n + 1
    added[n] = u
  end
end
if #batch > 0 then
  cursor = batch[#batch]
  redis.call('HSET', KEYS[1], 'cursor', cursor)
  redis.call('HINCRBY', KEYS[1], 'delivered', n)
end
local online = {}
local present = 0
if n > 0 then present = redis.call('HLEN', KEYS[3]) end
if present > 0 and present <= n then
  local all, nodes_of = redis.call('HGETALL', KEYS[3]), {}
  for i = 1, #all, 2 do nodes_of[all[i]] = all[i + 1] end
  for i = 1, n do
    local nodes = nodes_of[added[i]]
    if nodes then
      online[#online + 1] = added[i]
      online[#online + 1] = nodes
    end
  end
elseif present > 0 then
  for first = 1, n, 1000 do
    local last = math.min(first + 999, n)
    local nodes = redis.call('HMGET', KEYS[3], unpack(added, first, last))
    for i = 1, last - first + 1 do
      if nodes[i] then
        online[#online + 1] = added[first + i - 1]
        online[#online + 1] = nodes[i]
      end
    end
  end
end
return {n, cursor, more, online}
"""

# ARGV: followee, user key prefix, user key suffix (""), then the followers (bulk import).
IMPORT_FOLLOWERS = """
local followee, prefix, suffix = ARGV[1], ARGV[2], ARGV[3]
local followers = prefix .. followee .. suffix .. 'followers'
for i = 4, #ARGV do
  local u = ARGV[i]
  redis.call('HSETNX', prefix .. u .. suffix .. 's', 'p', '0')
  redis.call('ZADD', prefix .. u .. suffix .. 'following', 0, followee)
  redis.call('ZADD', followers, 0, u)
end
return #ARGV - 3
"""

# KEYS: presence (dl:online), the node's online set. ARGV: user, node, 1 to add / 0 to remove.
# Returns how many nodes the user is online on after the update.
PRESENCE_UPDATE = """
local raw = redis.call('HGET', KEYS[1], ARGV[1])
local nodes = {}
if raw then nodes = cmsgpack.unpack(raw) end
local kept = {}
for _, n in ipairs(nodes) do
  if n ~= ARGV[2] then kept[#kept + 1] = n end
end
if ARGV[3] == '1' then
  kept[#kept + 1] = ARGV[2]
  redis.call('SADD', KEYS[2], ARGV[1])
else
  redis.call('SREM', KEYS[2], ARGV[1])
end
if #kept == 0 then
  redis.call('HDEL', KEYS[1], ARGV[1])
else
  redis.call('HSET', KEYS[1], ARGV[1], cmsgpack.pack(kept))
end
return #kept
"""

# KEYS: members, meta, add_members: check the limit and add atomically.
# ARGV: limit, then user, state pairs. Returns 0 when the group would be over the limit.
ADD_MEMBERS = """
local limit = tonumber(ARGV[1])
local count = redis.call('HLEN', KEYS[1])
for i = 2, #ARGV, 2 do
  if redis.call('HEXISTS', KEYS[1], ARGV[i]) == 0 then count = count + 1 end
end
if count > limit then return 0 end
for i = 2, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
return 1
"""
