#!/usr/bin/env bash
# loadtest/bench-cluster.sh: how fast a write spreads through a cluster of three real edgeway
# processes on this machine, and what gossip costs at idle (BENCHMARKS.md, "Cluster").
#
# Three nodes (regions us-east, eu-west, ap-south) with the shipped cluster defaults (gossip
# every 200 ms), UDP gossip and QUIC peer channel with mutual TLS (certificates from
# deploy/cluster/make-certs.sh), all listeners on free loopback ports.
#   1. Convergence: REPS times, an API document is written through the admin API of one node
#      (rotating), and each node's public listener is polled every 2 ms until it serves the
#      new body. Figure: time from the write's acknowledgement until the last node serves it.
#   2. Idle gossip: edgeway_gossip_bytes_sent_total (and _received_) of each node, read from
#      /metrics IDLE seconds apart while nothing is written.
#
# Usage: loadtest/bench-cluster.sh [REPS=50] [IDLE=60]
#        (after `cargo build --release -p edgeway -p edgeway-tools`; EDGEWAY=path for another build)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPS=${1:-50}
IDLE=${2:-60}
EDGEWAY=${EDGEWAY:-$ROOT/target/release/edgeway}
[[ -x "$EDGEWAY" ]] || { echo "build first: cargo build --release -p edgeway" >&2; exit 2; }
OUT=$(mktemp -d /tmp/edgeway-cluster.XXXXXX)
TOKEN=bench-admin-token-0123456789
NAMES=(us-east-1 eu-west-1 ap-south-1)
REGIONS=(us-east eu-west ap-south)
"$ROOT/deploy/cluster/make-certs.sh" "$OUT/certs" "${NAMES[@]}" >/dev/null   # needs edgewayctl (EDGEWAYCTL=path)
port() { python3 -c 'import socket, sys; s=socket.socket(type=int(sys.argv[1])); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' "$1"; }
declare -a PUBLIC ADMIN GOSSIP PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null; wait 2>/dev/null' EXIT
for i in 0 1 2; do
    PUBLIC[i]=$(port 1) ADMIN[i]=$(port 1) GOSSIP[i]=$(port 2)
done
for i in 0 1 2; do
    seeds=$(for j in 0 1 2; do if [[ $j != "$i" ]]; then printf '"127.0.0.1:%s",' "${GOSSIP[j]}"; fi; done)
    cat >"$OUT/${NAMES[i]}.toml" <<TOML
[node]
id = "${NAMES[i]}"
region = "${REGIONS[i]}"
data_dir = "$OUT/data-${NAMES[i]}"
[public]
listen = "127.0.0.1:${PUBLIC[i]}"
workers = 1
[admin]
listen = "127.0.0.1:${ADMIN[i]}"
token = "$TOKEN"
[cluster]
id = "bench"
gossip = "127.0.0.1:${GOSSIP[i]}"
peer = "127.0.0.1:$(port 2)"
seeds = [${seeds%,}]
ca = "$OUT/certs/ca.pem"
cert = "$OUT/certs/${NAMES[i]}.pem"
key = "$OUT/certs/${NAMES[i]}.key"
TOML
    RUST_LOG=warn "$EDGEWAY" --config "$OUT/${NAMES[i]}.toml" >"$OUT/${NAMES[i]}.log" 2>&1 &
    PIDS[i]=$!
done
for i in 0 1 2; do
    for _ in $(seq 200); do curl -sf "127.0.0.1:${ADMIN[i]}/ready" >/dev/null && break; sleep 0.1; done
    curl -sf "127.0.0.1:${ADMIN[i]}/ready" >/dev/null || { echo "${NAMES[i]} never got ready" >&2; exit 1; }
done

echo "edgeway $(git -C "$ROOT" rev-parse --short HEAD), $(nproc) CPUs, $(date -u '+%F %H:%M UTC')"
echo "load average before: $(cat /proc/loadavg)"
python3 - "$REPS" "$TOKEN" "${ADMIN[*]}" "${PUBLIC[*]}" "${NAMES[*]}" <<'PY'
import http.client, json, statistics, sys, threading, time
reps, token = int(sys.argv[1]), sys.argv[2]
admin = [int(p) for p in sys.argv[3].split()]
public = [int(p) for p in sys.argv[4].split()]
names = sys.argv[5].split()

def call(port, method, path, body=None, host="admin"):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request(method, path, body=body, headers={"Host": host, "Authorization": f"Bearer {token}"})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data

def members_alive(port):
    status, body = call(port, "GET", "/cluster/members")
    return sum(1 for m in json.loads(body)["members"] if m["alive"]) if status == 200 else 0

deadline = time.time() + 30
while not all(members_alive(p) == 3 for p in admin):
    if time.time() > deadline: sys.exit("the three nodes never saw each other alive")
    time.sleep(0.1)

def document(body):
    return json.dumps({"api": {"id": "conv", "name": "conv", "kind": "rest"},
        "integrations": [{"id": "m", "type": "mock", "mock": {"status_code": 200, "body": body}}],
        "routes": [{"method": "GET", "path": "/x", "integration_id": "m"}],
        "stages": [{"name": "prod"}], "deploy_to": ["prod"]})

def wait_served(port, body, out, idx):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    while True:
        c.request("GET", "/prod/x", headers={"Host": "conv.execute-api.localhost"})
        r = c.getresponse()
        if r.read().decode() == body and r.status == 200:
            out[idx] = time.monotonic()
            return
        time.sleep(0.002)

since_ack, since_send, writes = [], [], []
for rep in range(reps):
    time.sleep(0.15 + (rep * 7919 % 300) / 1000)   # writes at different phases of the gossip ticks
    body, writer = f"v{rep}", rep % 3
    seen = [None] * 3
    sent = time.monotonic()
    status, answer = call(admin[writer], "PUT", "/apis/conv/document", document(body))
    acked = time.monotonic()
    if status != 200: sys.exit(f"write refused: {status} {answer!r}")
    pollers = [threading.Thread(target=wait_served, args=(public[i], body, seen, i)) for i in range(3)]
    for t in pollers: t.start()
    for t in pollers: t.join(30)
    if None in seen: sys.exit(f"rep {rep}: not served everywhere within 30 s: {seen}")
    since_ack.append(max(0.0, max(seen) - acked) * 1e3)
    since_send.append((max(seen) - sent) * 1e3)
    writes.append((acked - sent) * 1e3)

def summary(xs):
    xs = sorted(xs)
    return (f"median {statistics.median(xs):.1f} ms, p95 {xs[round(0.95 * (len(xs) - 1))]:.1f} ms, "
            f"max {xs[-1]:.1f} ms")
print(f"3 processes, {reps} writes (rotating among {', '.join(names)}), polled every 2 ms:")
print(f"  ack -> served by all 3:  {summary(since_ack)}")
print(f"  send -> served by all 3: {summary(since_send)}")
print(f"  the write itself (send -> ack, durable on the writer): {summary(writes)}")
PY

metric() { curl -sf "127.0.0.1:$1/metrics" | awk -v m="$2" '$1 == m { s += $2 } END { printf "%d", s }'; }
declare -a SENT0 RECV0
for i in 0 1 2; do
    SENT0[i]=$(metric "${ADMIN[i]}" edgeway_gossip_bytes_sent_total)
    RECV0[i]=$(metric "${ADMIN[i]}" edgeway_gossip_bytes_received_total)
done
sleep "$IDLE"
echo "idle gossip over ${IDLE} s (3 nodes, nothing written):"
for i in 0 1 2; do
    sent=$(( $(metric "${ADMIN[i]}" edgeway_gossip_bytes_sent_total) - SENT0[i] ))
    recv=$(( $(metric "${ADMIN[i]}" edgeway_gossip_bytes_received_total) - RECV0[i] ))
    echo "  ${NAMES[i]}: sent $((sent / IDLE)) B/s, received $((recv / IDLE)) B/s"
done
echo "load average after: $(cat /proc/loadavg)"
