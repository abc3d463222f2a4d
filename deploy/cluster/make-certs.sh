#!/usr/bin/env bash
# deploy/cluster/make-certs.sh: the cluster CA and one certificate per node for the peer
# channel (QUIC with mutual TLS), made with `edgewayctl certs init|issue`.
#
# Each node certificate names the node id as its DNS name (peers check it) and allows both
# server and client authentication (every node is both). Files that exist are kept, so the
# script can add nodes to an existing CA. The CA key stays in the output directory: keep it off
# the nodes in a real deployment.
#
# Usage: deploy/cluster/make-certs.sh [OUT_DIR=deploy/cluster/certs] [NODE_ID...]
#        (default node ids: us-east-1 eu-west-1 ap-south-1, as in the example configs)
#        EDGEWAYCTL=path picks the binary (default: target/release/edgewayctl).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CTL=${EDGEWAYCTL:-$ROOT/target/release/edgewayctl}
[[ -x "$CTL" ]] || { echo "build first: cargo build --release -p edgeway-tools" >&2; exit 2; }
OUT=${1:-deploy/cluster/certs}
shift || true
NODES=("$@")
[[ ${#NODES[@]} -gt 0 ]] || NODES=(us-east-1 eu-west-1 ap-south-1)

[[ -f "$OUT/ca.pem" ]] || "$CTL" certs init --out "$OUT"
for id in "${NODES[@]}"; do
    [[ -f "$OUT/$id.pem" ]] || "$CTL" certs issue --ca "$OUT" --node-id "$id" --out "$OUT"
done
