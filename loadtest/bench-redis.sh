#!/usr/bin/env bash
# loadtest/bench-redis.sh: accuracy and cost of the cluster-wide (Redis) limiter.
#
# Three `edgeway` nodes share one redis-server. One API key's usage plan allows R requests per
# second; edgeway-load offers 3R with that key, spread round-robin over the three nodes, and in
# the same run 3R with a second key on the same route whose plan has no throttle and no quota
# (the limiter-off baseline: the same API-key and usage-plan phases, nothing goes to Redis) for
# DURATION after a warm-up. Reported: the limited key's admitted rate / R; Redis commands (INFO
# commandstats: EVALSHA, EVAL, SCRIPT) per 100 limited requests, and the nodes' lease calls by
# outcome; p99 of both keys. Then a quota of Q requests per day, offered 3 × Q/5 rps for 5 s:
# admitted vs Q.
# Everything runs twice: Redis on loopback, then behind a relay that delays each direction by
# DELAY_MS/2 (so every round trip to Redis takes DELAY_MS more).
#
# Usage: loadtest/bench-redis.sh [R=300] [DURATION=30s] [Q=2000] [DELAY_MS=50]
#        (after `cargo build --release -p edgeway -p edgeway-load`; BIN_DIR=target/debug to
#        smoke-test the script with debug binaries, whose latencies mean nothing)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
R=${1:-300}
DURATION=${2:-30s}
Q=${3:-2000}
DELAY_MS=${4:-50}
BIN_DIR=${BIN_DIR:-$ROOT/target/release}
EDGEWAY="$BIN_DIR/edgeway"
LOAD="$BIN_DIR/edgeway-load"
for bin in "$EDGEWAY" "$LOAD"; do
    [[ -x "$bin" ]] || { echo "build first: cargo build --release -p edgeway -p edgeway-load" >&2; exit 2; }
done
command -v redis-server >/dev/null || apt-get install -y --no-install-recommends redis-server redis-tools >/dev/null
OUT=$(mktemp -d /tmp/edgeway-redis-bench.XXXXXX)
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
TOKEN=bench-admin-token-0123456789
KEY_VALUE=bench-limited-key-0123456789
QUOTA_KEY_VALUE=bench-quota-key-0123456789
FREE_KEY_VALUE=bench-unlimited-key-0123456789
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

# A TCP relay that holds every chunk DELAY/2 ms in each direction (order kept).
cat >"$OUT/relay.py" <<'PY'
import asyncio, sys
listen, target, delay = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]) / 2000
async def pump(reader, writer):
    queue = asyncio.Queue()
    async def send():
        while True:
            due, data = await queue.get()
            if data is None:
                writer.close(); return
            await asyncio.sleep(max(0, due - asyncio.get_running_loop().time()))
            writer.write(data); await writer.drain()
    sender = asyncio.create_task(send())
    loop = asyncio.get_running_loop()
    while data := await reader.read(65536):
        queue.put_nowait((loop.time() + delay, data))
    queue.put_nowait((0, None)); await sender
async def serve(reader, writer):
    try:
        up_r, up_w = await asyncio.open_connection("127.0.0.1", target)
        await asyncio.gather(pump(reader, up_w), pump(up_r, writer))
    except (ConnectionError, OSError):
        writer.close()
async def main():
    server = await asyncio.start_server(serve, "127.0.0.1", listen)
    await server.serve_forever()
asyncio.run(main())
PY

REDIS_PORT=$(port)
timeout -s KILL 3600 redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no \
    --dir "$OUT" >"$OUT/redis.log" 2>&1 &
PIDS+=($!)
RELAY_PORT=$(port)
timeout -s KILL 3600 python3 "$OUT/relay.py" "$RELAY_PORT" "$REDIS_PORT" "$DELAY_MS" &
PIDS+=($!)
for _ in $(seq 100); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.05; done

# Starts 3 nodes whose Redis is at port $1; sets NODE_URLS, ADMINS and NODE_PIDS.
start_nodes() {
    local redis_port=$1 label=$2
    NODE_URLS=() ADMINS=() NODE_PIDS=()
    for i in 1 2 3; do
        local public admin dir=$OUT/$label-node$i
        public=$(port) admin=$(port)
        mkdir -p "$dir"
        cat >"$dir/edgeway.toml" <<TOML
[node]
id = "node-$i"
data_dir = "$dir/data"
[public]
listen = "127.0.0.1:$public"
workers = 1
[admin]
listen = "127.0.0.1:$admin"
token = "$TOKEN"
[limits]
node_rate = 1000000000.0
node_burst = 1000000000
[limits.redis]
url = "redis://127.0.0.1:$redis_port"
response_timeout_ms = 1000
connect_timeout_ms = 1000
TOML
        RUST_LOG=warn timeout -s KILL 3600 "$EDGEWAY" --config "$dir/edgeway.toml" >"$dir/log" 2>&1 &
        NODE_PIDS+=($!) PIDS+=($!)
        NODE_URLS+=("http://127.0.0.1:$public") ADMINS+=("127.0.0.1:$admin")
    done
    for admin in "${ADMINS[@]}"; do
        for _ in $(seq 200); do curl -sf "$admin/ready" >/dev/null && break; sleep 0.05; done
        configure "$admin"
    done
}

admin() { curl -sf -H "Authorization: Bearer $TOKEN" -X "$2" "$1$3" -d "$4" >/dev/null; }
# The same API, plans and keys on every node (the nodes share limits through Redis only).
configure() {
    local a=$1
    admin "$a" PUT /apis/rl/document '{"api": {"id": "rl", "name": "redis bench", "kind": "http"},
      "integrations": [{"id": "m", "type": "mock", "mock": {"body": "{\"ok\":true}"}}],
      "routes": [{"method": "GET", "path": "/open", "integration_id": "m"},
                 {"method": "GET", "path": "/keyed", "integration_id": "m", "api_key_required": true}],
      "stages": [{"name": "$default", "auto_deploy": true}]}'
    admin "$a" POST /usageplans '{"id": "rate", "name": "rate", "api_stages": [{"api_id": "rl", "stage": "$default"}],
      "throttle": {"rate_limit": '"$R"', "burst_limit": '"$R"'}}'
    admin "$a" POST /usageplans '{"id": "quota", "name": "quota", "api_stages": [{"api_id": "rl", "stage": "$default"}],
      "quota": {"limit": '"$Q"', "period": "DAY"}}'
    admin "$a" POST /usageplans '{"id": "free", "name": "free", "api_stages": [{"api_id": "rl", "stage": "$default"}]}'
    admin "$a" POST /apikeys '{"id": "limited", "name": "limited", "value": "'"$KEY_VALUE"'"}'
    admin "$a" POST /apikeys '{"id": "free", "name": "free", "value": "'"$FREE_KEY_VALUE"'"}'
    admin "$a" POST /apikeys '{"id": "quota", "name": "quota", "value": "'"$QUOTA_KEY_VALUE"'"}'
    admin "$a" POST /usageplans/rate/keys '{"key_id": "limited"}'
    admin "$a" POST /usageplans/quota/keys '{"key_id": "quota"}'
    admin "$a" POST /usageplans/free/keys '{"key_id": "free"}'
}

stop_nodes() {
    for p in "${NODE_PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
}

script_calls() {
    # (`tr`: INFO lines end in CR; no `\>` in the pattern: Debian's awk is mawk.)
    redis-cli -p "$REDIS_PORT" info commandstats | tr -d '\r' |
        awk -F'[:=,]' '/^cmdstat_(evalsha|eval|script):/ {n += $3} END {print n + 0}'
}

# Lease calls the nodes made, by outcome (granted, partial, denied, error): one line each.
lease_calls() {
    local admin
    for admin in "${ADMINS[@]}"; do curl -sf "$admin/metrics"; done |
        awk '/^edgeway_redis_lease_requests_total\{/ {
                 match($0, /outcome="[a-z]+"/); o = substr($0, RSTART + 9, RLENGTH - 10)
                 k = ($0 ~ /kind="quota"/) ? "quota" : "throttle"; n[k " " o] += $NF }
             END {for (x in n) print x, n[x]}' | sort
}

# One scenario: the limited and the unlimited key in one run, then the quota run.
run() {
    local label=$1 redis_port=$2
    redis-cli -p "$REDIS_PORT" flushall >/dev/null
    start_nodes "$redis_port" "$label"
    local before after
    before=$(script_calls)
    local offered=$((3 * R))
    "$LOAD" -q --key "limited:$offered:$KEY_VALUE" --key "free:$offered:$FREE_KEY_VALUE" \
        --duration "$DURATION" --warmup 5s \
        -H 'Host: rl.execute-api.localhost' --report "$OUT/$label-keyed.json" \
        "${NODE_URLS[@]/%//keyed}" >"$OUT/$label-keyed.txt"
    after=$(script_calls)
    echo "$((after - before))" >"$OUT/$label-calls"
    lease_calls >"$OUT/$label-leases"
    local qrate=$((3 * Q / 5))
    "$LOAD" -q --key "quota:$qrate:$QUOTA_KEY_VALUE" --duration 5s \
        -H 'Host: rl.execute-api.localhost' --report "$OUT/$label-quota.json" \
        "${NODE_URLS[@]/%//keyed}" >"$OUT/$label-quota.txt"
    stop_nodes
}

run loopback "$REDIS_PORT"
run "delay${DELAY_MS}ms" "$RELAY_PORT"

python3 - "$OUT" "$R" "$Q" "$DELAY_MS" <<'PY'
import json, sys
out, r, q, delay = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
print(f"R = {r:g} rps, offered 3R with the limited key and 3R with the unlimited one; quota Q = {q}; results in {out}")
print(f"{'redis':<16}{'admitted/R':>11}{'cmds/100 req':>14}{'p99 limited ms':>16}{'p99 unlimited ms':>18}{'added ms':>10}{'quota admitted':>16}")
for label in ["loopback", f"delay{delay}ms"]:
    keyed = json.load(open(f"{out}/{label}-keyed.json"))
    quota = json.load(open(f"{out}/{label}-quota.json"))
    calls = int(open(f"{out}/{label}-calls").read())
    keys = {k["name"]: k for k in keyed["keys"]}
    k, free = keys["limited"], keys["free"]
    # Script calls cover the warm-up too: divide by every limited request sent, warm-up included.
    sent_all = k["rate"] * (keyed["duration_s"] + keyed["warmup_s"])
    statuses = lambda s: ", ".join(f"{c}: {n}" for c, n in sorted(s["statuses"].items()))
    p99k, p99f = k["latency_ms"]["p99"], free["latency_ms"]["p99"]
    qa = quota["total"]["admitted"]
    print(f"{label:<16}{k['admitted_rps'] / r:>11.4f}{100 * calls / sent_all:>14.2f}{p99k:>16.3f}{p99f:>18.3f}"
          f"{p99k - p99f:>10.3f}{qa:>10} of {q}")
    print(f"{'':<16}limited {{{statuses(k)}}}, missed {k['missed']}, errors {k['errors']}; "
          f"unlimited {{{statuses(free)}}}, missed {free['missed']}, errors {free['errors']}")
    print(f"{'':<16}p50 limited {k['latency_ms']['p50']:.3f} / unlimited {free['latency_ms']['p50']:.3f} ms; "
          f"p99.9 {k['latency_ms']['p99.9']:.3f} / {free['latency_ms']['p99.9']:.3f} ms")
    leases = open(f"{out}/{label}-leases").read().split("\n")
    print(f"{'':<16}lease calls (keyed phase, 3 nodes): " + "; ".join(l for l in leases if l))
PY
