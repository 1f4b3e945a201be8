#!/usr/bin/env bash
# Mints a development CA and a serving certificate signed by it, for running
# the webhook locally and in tests. Never use these in production: mount a
# certificate from cert-manager (or your own CA) instead.
#
# Usage: certs/mint.sh [OUT_DIR]   (default: the directory of this script)
# Writes ca.crt, ca.key, tls.crt, tls.key and prints the CA bundle, base64,
# for a webhook configuration's clientConfig.caBundle.
#
# CLIENT_CERT=1 certs/mint.sh [OUT_DIR] also writes client.crt and client.key:
# a client certificate (extendedKeyUsage clientAuth) signed by the same CA,
# for trying `stepsplice serve --client-ca OUT_DIR/ca.crt`, e.g.
#   curl --cacert certs/ca.crt --cert certs/client.crt --key certs/client.key ...
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
trap 'rm -f "$extensions" tls.csr client.csr ca.srl' EXIT
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

if [[ "${CLIENT_CERT:-}" == 1 ]]; then
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout client.key -out client.csr -subj "/CN=stepsplice development client" 2>/dev/null
  cat >"$extensions" <<EXT
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth
EXT
  openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
    -out client.crt -days "$days" -extfile "$extensions" 2>/dev/null
  chmod 644 client.crt
  echo "minted $out/client.crt, a client certificate for --client-ca $out/ca.crt (valid $days days)" >&2
fi
echo "caBundle: $(base64 -w0 ca.crt)"
