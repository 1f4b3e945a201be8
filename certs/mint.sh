#!/usr/bin/env bash
# Mints a development CA and a serving certificate signed by it, for running
# the webhook locally and in tests. Never use these in production: mount a
# certificate from cert-manager (or your own CA) instead.
#
# Usage: certs/mint.sh [OUT_DIR]   (default: the directory of this script)
# Writes ca.crt, ca.key, tls.crt, tls.key and prints the CA bundle, base64,
# for a webhook configuration's clientConfig.caBundle.
set -euo pipefail

out=${1:-$(cd "$(dirname "$0")" && pwd)}
days=${CERT_DAYS:-365}
mkdir -p "$out"
cd "$out"
umask 077

sans="DNS:localhost,IP:127.0.0.1,IP:::1,DNS:stepsplice.stepsplice-system.svc,DNS:stepsplice.stepsplice-system.svc.cluster.local"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -keyout ca.key -out ca.crt -days "$days" -subj "/CN=stepsplice development CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null

openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -keyout tls.key -out tls.csr -subj "/CN=stepsplice.stepsplice-system.svc" 2>/dev/null

extensions=$(mktemp)
trap 'rm -f "$extensions" tls.csr ca.srl' EXIT
cat >"$extensions" <<EXT
subjectAltName=$sans
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
EXT
openssl x509 -req -in tls.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
  -out tls.crt -days "$days" -extfile "$extensions" 2>/dev/null

chmod 644 ca.crt tls.crt
echo "minted $out/tls.crt for localhost, 127.0.0.1 and stepsplice.stepsplice-system.svc (valid $days days)" >&2
echo "caBundle: $(base64 -w0 ca.crt)"
