#!/usr/bin/env bash
# deploy/cluster/make-certs.sh: the cluster CA and one certificate per node for the peer
# channel (QUIC with mutual TLS), with openssl.
#
# Each node certificate names the node id as its DNS name (peers check it) and allows both
# server and client authentication (every node is both). The CA key stays in the output
# directory: keep it off the nodes in a real deployment.
#
# Usage: deploy/cluster/make-certs.sh [OUT_DIR=deploy/cluster/certs] [NODE_ID...]
#        (default node ids: us-east-1 eu-west-1 ap-south-1, as in the example configs)
set -euo pipefail

OUT=${1:-deploy/cluster/certs}
shift || true
NODES=("$@")
[[ ${#NODES[@]} -gt 0 ]] || NODES=(us-east-1 eu-west-1 ap-south-1)
DAYS=${DAYS:-365}
mkdir -p "$OUT"
umask 077

if [[ ! -f "$OUT/ca.pem" ]]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days "$((DAYS * 5))" \
        -subj "/CN=Edgeway cluster CA" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -keyout "$OUT/ca.key" -out "$OUT/ca.pem" 2>/dev/null
    echo "created $OUT/ca.pem (and its key, $OUT/ca.key)"
fi

for id in "${NODES[@]}"; do
    # Node ids are DNS labels (the node refuses to start in a cluster otherwise).
    [[ $id =~ ^[a-z0-9][a-z0-9-]{0,62}$ ]] || { echo "not a DNS label: $id" >&2; exit 2; }
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$id" \
        -keyout "$OUT/$id.key" 2>/dev/null |
        openssl x509 -req -CA "$OUT/ca.pem" -CAkey "$OUT/ca.key" -days "$DAYS" \
            -extfile <(printf '%s\n' "basicConstraints=critical,CA:FALSE" \
                "keyUsage=critical,digitalSignature" \
                "extendedKeyUsage=serverAuth,clientAuth" "subjectAltName=DNS:$id") \
            -out "$OUT/$id.pem" 2>/dev/null
    echo "created $OUT/$id.pem and $OUT/$id.key"
done
