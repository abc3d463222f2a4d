#!/usr/bin/env bash
# tests/scripts/h3-gtlsclient.sh: checks Edgeway's HTTP/3 with a client that is not ours,
# ngtcp2's gtlsclient (Debian package ngtcp2-client, installed when missing).
#
# Starts one node (debug build) with TLS and [public.http3] on 127.0.0.1, a mock API, and
# asks for it over HTTP/3: a 200 with the mock body, then a gateway error (403
# MISSING_AUTHENTICATION_TOKEN) with its x-amzn-errortype header. Exits non-zero on any
# mismatch. gtlsclient does not verify certificates; a throwaway CA and leaf are made with
# openssl. Only 127.0.0.1 is used; the node is stopped on exit.
#
# Usage: tests/scripts/h3-gtlsclient.sh
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
command -v gtlsclient >/dev/null \
    || { apt-get update -qq && apt-get install -y -qq --no-install-recommends ngtcp2-client >/dev/null; }
(cd "$ROOT" && cargo build -q -p edgeway)
TARGET_DIR=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
EDGEWAY="$TARGET_DIR/debug/edgeway"
DIR=$(mktemp -d /tmp/edgeway-h3.XXXXXX)
NODE=""
cleanup() { [[ -n "$NODE" ]] && kill "$NODE" 2>/dev/null && wait "$NODE" 2>/dev/null; rm -rf "$DIR"; }
trap cleanup EXIT

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
    -subj "/CN=h3 check CA" -keyout "$DIR/ca.key" -out "$DIR/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
    -keyout "$DIR/leaf.key" 2>/dev/null \
    | openssl x509 -req -CA "$DIR/ca.pem" -CAkey "$DIR/ca.key" -days 1 -out "$DIR/leaf.pem" \
        -extfile <(printf "basicConstraints=critical,CA:FALSE\nsubjectAltName=DNS:localhost\n") 2>/dev/null

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
PUBLIC=$(port) ADMIN=$(port)
cat >"$DIR/api.json" <<'JSON'
{ "api": { "id": "hello", "name": "hello", "kind": "rest" },
  "integrations": [{ "id": "m", "type": "mock", "mock": { "status_code": 200,
                     "body": "{\"message\": \"hello over h3\"}" } }],
  "routes": [{ "method": "GET", "path": "/hello", "integration_id": "m" }],
  "stages": [{ "name": "prod" }], "deploy_to": ["prod"] }
JSON
cat >"$DIR/edgeway.toml" <<TOML
[node]
data_dir = "$DIR/data"
bootstrap = ["$DIR/api.json"]
[public]
listen = "127.0.0.1:$PUBLIC"
tls = { cert = "$DIR/leaf.pem", key = "$DIR/leaf.key" }
[public.http3]
enabled = true
[admin]
listen = "127.0.0.1:$ADMIN"
token = "h3-check-token-0123456789"
TOML
"$EDGEWAY" --config "$DIR/edgeway.toml" >"$DIR/edgeway.log" 2>&1 &
NODE=$!
for _ in $(seq 100); do curl -sf "127.0.0.1:$ADMIN/ready" >/dev/null && break; sleep 0.1; done

# gtlsclient prints the response headers as `http: stream 0x0 [:status: 200]` and saves bodies
# under --download (named after the last path segment).
ask() {
    timeout -s KILL 20 gtlsclient --exit-on-all-streams-close --no-quic-dump --no-http-dump \
        --download="$DIR/dl" localhost "$PUBLIC" "https://hello.execute-api.localhost:$PUBLIC$1" 2>&1 || true
}
fail() { echo "h3 check FAILED: $*" >&2; exit 1; }
mkdir -p "$DIR/dl"

ok=$(ask /prod/hello)
grep -q 'Negotiated ALPN is h3' <<<"$ok" || fail "/prod/hello: ALPN h3 not negotiated: $ok"
grep -q '\[:status: 200\]' <<<"$ok" || fail "/prod/hello: no 200 in: $ok"
grep -q 'hello over h3' "$DIR/dl/hello" || fail "/prod/hello: body was: $(cat "$DIR/dl/hello" 2>/dev/null)"
missing=$(ask /prod/nowhere)
grep -q '\[:status: 403\]' <<<"$missing" || fail "/prod/nowhere: no 403 in: $missing"
grep -q '\[x-amzn-errortype: MISSING_AUTHENTICATION_TOKEN\]' <<<"$missing" \
    || fail "/prod/nowhere: error type missing in: $missing"
echo "h3 check passed: gtlsclient $(dpkg-query -W -f='${Version}' ngtcp2-client 2>/dev/null) got 200 and a gateway 403 over HTTP/3"
