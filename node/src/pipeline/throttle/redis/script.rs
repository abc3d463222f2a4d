//! The Lua scripts that grant leases, and the Redis keys they work on. Each script touches one
//! key, named with a hash tag, so Redis Cluster runs it on the key's master; each runs
//! atomically, so nodes racing for one bucket never hand out a token twice.

use super::super::limiter::Scope;
use redis::Script;
use sha2::{Digest, Sha256};
use std::sync::LazyLock;

/// How much of `avail` to grant a node that wants `want`: all of it while twice that is left,
/// then half of what is left, so the last tokens go out one at a time to whichever node asks.
const SHRINK: &str = "
local grant = 0
if avail >= 2 * want then
  grant = want
elseif avail > 0 then
  grant = math.min(want, math.ceil(avail / 2))
end";

/// A token bucket as Redis keeps it: a hash of `tk` (tokens, fractional) and `ts` (last refill,
/// Redis server time in microseconds). A missing key is a full bucket; the key expires once
/// the bucket would be full again, so idle buckets cost nothing.
///
/// ARGV: rate (tokens/s), burst, tokens wanted, tokens given back (unused ones of an expired
/// lease), the longest wait to impose while tokens are left (µs). Returns `{granted, whole
/// tokens left, wait}`: when the bucket is left empty or the grant is short of the want, the
/// microseconds until it holds 2 × wanted again (the node spends what it got and does not ask
/// before; so a bucket under more load than its rate costs about one call per lease, not one
/// per request nor one per halving of what is left), else 0. A slow bucket whose refill would
/// take longer than that longest wait hands its last tokens out on demand instead.
///
/// Why the cluster never admits more than `burst + rate × elapsed`: every token a node admits
/// was granted here first, grants take tokens out, refill adds `rate × elapsed` and is capped
/// at `burst`, and given-back tokens are ones no node admitted. A node that dies keeps its
/// lease (at most `rate × refill interval`), which the refill makes good within that interval.
///
/// Grants shrink as the bucket empties: the full want only while twice that is left, then half
/// of what is left, so the last tokens go out one at a time to whichever node asks.
static BUCKET: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local back = tonumber(ARGV[4])
local max_wait = tonumber(ARGV[5])
local s = redis.call('HMGET', KEYS[1], 'tk', 'ts')
local tokens = tonumber(s[1])
local ts = tonumber(s[2])
if tokens == nil or ts == nil then
  tokens = burst
  ts = now
end
if now > ts then
  tokens = math.min(burst, tokens + (now - ts) * rate / 1000000)
  ts = now
end
tokens = math.min(burst, tokens + back)
local avail = math.floor(tokens)
{SHRINK}
tokens = tokens - grant
local wait = 0
if grant < want or tokens < 1 then
  wait = math.max(0, math.ceil((math.min(2 * want, burst) - tokens) * 1000000 / rate))
  if tokens >= 1 and wait > max_wait then
    wait = 0
  end
end
redis.call('HSET', KEYS[1], 'tk', string.format('%.6f', tokens), 'ts', string.format('%.0f', ts))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) * 1000 / rate) + 1000)
return {{grant, math.floor(tokens), wait}}
"
    ))
});

/// A quota counter for one period: requests used (granted to nodes), a plain integer; it
/// expires a day after its period ends. ARGV: limit, wanted, given back (negative: requests a
/// node admitted while Redis was unreachable, now counted), expiry (Unix ms; at least an hour
/// from now by Redis time, so a node with a clock far behind cannot delete it). Returns
/// `{granted, left after the grant}`. Grants shrink near the limit like the bucket's, so
/// the last requests of a period go out one at a time.
static QUOTA: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        r"
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit = tonumber(ARGV[1])
local want = tonumber(ARGV[2])
local back = tonumber(ARGV[3])
local used = tonumber(redis.call('GET', KEYS[1]) or '0') - back
local avail = limit - used
{SHRINK}
used = used + grant
local expiry = math.max(tonumber(ARGV[4]), now_ms + 3600000)
redis.call('SET', KEYS[1], string.format('%d', used), 'PXAT', string.format('%.0f', expiry))
return {{grant, limit - used}}
"
    ))
});

/// Reads a quota counter (requests used; nil when nobody used any).
static QUOTA_USED: LazyLock<Script> =
    LazyLock::new(|| Script::new("return redis.call('GET', KEYS[1])"));

/// Sets a quota counter (AWS UpdateUsage). ARGV: used, expiry (Unix ms).
static QUOTA_SET: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local t = redis.call('TIME')
local expiry = math.max(tonumber(ARGV[2]), tonumber(t[1]) * 1000 + 3600000)
redis.call('SET', KEYS[1], ARGV[1], 'PXAT', string.format('%.0f', expiry))
return 1
",
    )
});

pub fn quota_used() -> &'static Script {
    &QUOTA_USED
}

pub fn quota_set() -> &'static Script {
    &QUOTA_SET
}

pub fn bucket() -> &'static Script {
    &BUCKET
}

pub fn quota() -> &'static Script {
    &QUOTA
}

/// A short, stable name for anything with an identity: the first 16 bytes of its SHA-256, in
/// hex. Every node derives the same name, and ids with `{`, `}` or spaces (route keys) cannot
/// disturb the hash tag.
fn tag(parts: &[&str]) -> String {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update((part.len() as u64).to_le_bytes());
        hash.update(part.as_bytes());
    }
    hash.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The Redis key of a throttle's bucket; `None` for the node-wide limit, which stays local.
pub fn bucket_key(prefix: &str, scope: &Scope<'_>) -> Option<String> {
    let tag = match *scope {
        Scope::KeyRoute {
            plan,
            key,
            api,
            stage,
            route,
        } => tag(&["key_route", plan, key, api, stage, route]),
        Scope::Key { plan, key } => tag(&["key", plan, key]),
        Scope::Route { api, stage, route } => tag(&["route", api, stage, route]),
        Scope::Stage { api, stage } => tag(&["stage", api, stage]),
        Scope::Node => return None,
    };
    Some(format!("{prefix}:b:{{{tag}}}"))
}

/// The Redis key of a key's quota counter for the period `period_tag`.
pub fn quota_key(prefix: &str, plan: &str, key: &str, period_tag: u32) -> String {
    format!("{prefix}:q:{{{}}}:{period_tag}", tag(&["quota", plan, key]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_stable_hash_tagged_and_distinct() {
        let stage = Scope::Stage {
            api: "a",
            stage: "prod",
        };
        let k = bucket_key("ew", &stage).unwrap();
        assert_eq!(k, bucket_key("ew", &stage).unwrap());
        assert!(k.starts_with("ew:b:{") && k.ends_with('}') && k.len() == "ew:b:{}".len() + 32);
        let route = Scope::Route {
            api: "a",
            stage: "prod",
            route: "GET /pets/{id}",
        };
        let r = bucket_key("ew", &route).unwrap();
        assert_eq!(
            r.matches('{').count(),
            1,
            "route braces never reach the key"
        );
        assert_ne!(k, r);
        // Parts are length-prefixed: ("ab","c") and ("a","bc") differ.
        let (x, y) = (
            Scope::Stage {
                api: "ab",
                stage: "c",
            },
            Scope::Stage {
                api: "a",
                stage: "bc",
            },
        );
        assert_ne!(bucket_key("ew", &x), bucket_key("ew", &y));
        assert_eq!(bucket_key("ew", &Scope::Node), None);
        assert_ne!(quota_key("ew", "p", "k", 1), quota_key("ew", "p", "k", 2));
    }
}
