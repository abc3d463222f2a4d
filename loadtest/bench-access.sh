#!/usr/bin/env bash
# loadtest/bench-access.sh: what access control costs, in one run on one Edgeway node.
#
# Three routes of one HTTP API answer the same mock response: `open` (no checks), `keyed`
# (api_key_required, the key in a usage plan with a throttle and a quota that never run out) and
# `jwt` (an HS256 JWT authorizer). wrk measures them interleaved, REPS times each; the table gives
# medians of RPS and p99 and each route's RPS relative to `open`.
#
# Usage: loadtest/bench-access.sh [REPS=3] [DURATION=10s]   (after `cargo build --release -p edgeway`)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPS=${1:-3}
DURATION=${2:-10s}
EDGEWAY="$ROOT/target/release/edgeway"
[[ -x "$EDGEWAY" ]] || { echo "build first: cargo build --release -p edgeway" >&2; exit 2; }
command -v wrk >/dev/null || apt-get install -y wrk >/dev/null
OUT=$(mktemp -d /tmp/edgeway-access.XXXXXX)
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
PUBLIC=$(port) ADMIN=$(port) TOKEN=bench-admin-token-0123456789
cat >"$OUT/edgeway.toml" <<TOML
[node]
data_dir = "$OUT/data"
[public]
listen = "127.0.0.1:$PUBLIC"
[admin]
listen = "127.0.0.1:$ADMIN"
token = "$TOKEN"
[limits]
# Lift the node-wide limit (default 10,000 rps): this measures the checks, not a refusal.
node_rate = 1000000000.0
node_burst = 1000000000
TOML
RUST_LOG=warn "$EDGEWAY" --config "$OUT/edgeway.toml" >"$OUT/edgeway.log" 2>&1 &
NODE=$!
trap 'kill $NODE 2>/dev/null; wait $NODE 2>/dev/null' EXIT
for _ in $(seq 100); do curl -sf "127.0.0.1:$ADMIN/ready" >/dev/null && break; sleep 0.1; done

admin() { curl -sf -H "Authorization: Bearer $TOKEN" -X "$1" "127.0.0.1:$ADMIN$2" -d "$3"; }
SECRET=bench-shared-secret-of-at-least-32-bytes
admin PUT /apis/acc/document '{"api": {"id": "acc", "name": "access bench", "kind": "http"},
  "integrations": [{"id": "m", "type": "mock", "mock": {"body": "{\"ok\":true}"}}],
  "authorizers": [{"id": "jwt", "type": "jwt", "jwt": {"issuer": "bench", "audiences": ["bench"],
                   "algorithms": ["HS256"], "hmac_secret": "'"$SECRET"'"}}],
  "routes": [{"method": "GET", "path": "/open", "integration_id": "m"},
             {"method": "GET", "path": "/keyed", "integration_id": "m", "api_key_required": true},
             {"method": "GET", "path": "/jwt", "integration_id": "m", "authorizer_id": "jwt"}],
  "stages": [{"name": "$default", "auto_deploy": true}]}' >/dev/null
admin POST /usageplans '{"id": "bench", "name": "bench", "api_stages": [{"api_id": "acc", "stage": "$default"}],
  "throttle": {"rate_limit": 10000000, "burst_limit": 10000000},
  "quota": {"limit": 1000000000000, "period": "MONTH"}}' >/dev/null
KEY=$(admin POST /apikeys '{"name": "bench"}')
KEY_ID=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])' <<<"$KEY")
KEY_VALUE=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["value"])' <<<"$KEY")
admin POST /usageplans/bench/keys "{\"key_id\": \"$KEY_ID\"}" >/dev/null
JWT=$(python3 - "$SECRET" <<'PY'
import base64, hashlib, hmac, json, sys, time
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
body = b64(json.dumps({"iss": "bench", "aud": "bench", "sub": "load", "exp": int(time.time()) + 3600}).encode())
sig = b64(hmac.new(sys.argv[1].encode(), f"{head}.{body}".encode(), hashlib.sha256).digest())
print(f"{head}.{body}.{sig}")
PY
)

declare -A HEADER=([open]="x-bench: open" [keyed]="x-api-key: $KEY_VALUE" [jwt]="Authorization: Bearer $JWT")
for route in open keyed jwt; do   # every route must answer 200 before it is measured
    code=$(curl -s -o /dev/null -w '%{http_code}' -H "Host: acc.execute-api.localhost" -H "${HEADER[$route]}" "127.0.0.1:$PUBLIC/$route")
    [[ $code == 200 ]] || { echo "route $route answered $code" >&2; exit 1; }
done
for rep in $(seq "$REPS"); do
    for route in open keyed jwt; do
        wrk -t2 -c64 -d"$DURATION" --latency -H "Host: acc.execute-api.localhost" -H "${HEADER[$route]}" \
            "http://127.0.0.1:$PUBLIC/$route" >"$OUT/$route.$rep.txt"
    done
done
python3 - "$OUT" "$REPS" <<'PY'
import re, statistics, sys
out, reps = sys.argv[1], int(sys.argv[2])
def parse(route, rep):
    text = open(f"{out}/{route}.{rep}.txt").read()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    v, unit = re.search(r"\s99%\s+([\d.]+)(us|ms|s)", text).groups()
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    return rps, float(v) * {"us": 0.001, "ms": 1, "s": 1000}[unit], int(bad.group(1)) if bad else 0
rows = {r: [parse(r, i) for i in range(1, reps + 1)] for r in ("open", "keyed", "jwt")}
base = statistics.median(x[0] for x in rows["open"])
print("| route | RPS (median) | p99 ms (median) | RPS per run | vs open | non-2xx |")
print("|---|---:|---:|---|---:|---:|")
for route, runs in rows.items():
    rps = statistics.median(x[0] for x in runs)
    p99 = statistics.median(x[1] for x in runs)
    print(f"| {route} | {rps:.0f} | {p99:.2f} | {' / '.join(f'{x[0]:.0f}' for x in runs)} | {rps / base:.2f}x | {sum(x[2] for x in runs)} |")
PY
echo "raw wrk outputs: $OUT" >&2
