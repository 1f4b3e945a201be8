#!/usr/bin/env bash
# `make deploy-dev`: installs stepsplice into the current kubectl context
# without cert-manager, for a test cluster. The serving certificate comes
# from certs/ (minted by certs/mint.sh when absent: a development CA, never
# for production), as the stepsplice-tls Secret, and the CA fills the
# caBundle of every webhook.
#
# Order: with failurePolicy Fail, a webhook configuration that goes live
# before its server answers refuses every object it matches. So it applies in
# two phases: first everything but the webhook configurations (the
# Namespace, RBAC, the Secret, the Deployment, ...), then waits until the
# Deployment is rolled out (its pods ready: /readyz answers 200 once the
# cluster catalog has synced), and only then the webhook configurations.
#
# Usage: deploy/dev.sh [--dry-run]
#   --dry-run   print both phases' objects and the commands, change nothing
#               (needs only kubectl's built-in kustomize, no cluster)
# Environment:
#   KUBECTL          kubectl to run (default: kubectl)
#   CERTS_DIR        where ca.crt, tls.crt and tls.key are (default: certs/)
#   IMAGE            the image to run instead of the manifests' (e.g. stepsplice:dev)
#   ROLLOUT_TIMEOUT  how long to wait for the Deployment (default: 180s)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
kubectl=${KUBECTL:-kubectl}
certs=${CERTS_DIR:-$root/certs}
image=${IMAGE:-}
rollout_timeout=${ROLLOUT_TIMEOUT:-180s}
namespace=stepsplice-system
service_host=stepsplice.$namespace.svc
# The label that marks the webhook configurations (base/webhooks.yaml): they go in the second phase.
phase_two_label='app.kubernetes.io/component: admission-configuration'

dry_run=0
for arg in "$@"; do
  case $arg in
    --dry-run) dry_run=1 ;;
    -h | --help)
      sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "dev.sh: unknown argument $arg (try --help)" >&2
      exit 2
      ;;
  esac
done

fail() {
  echo "dev.sh: $*" >&2
  exit 1
}

if ! command -v "$kubectl" >/dev/null; then
  fail "$kubectl not found: install kubectl 1.27 or later (its kustomize renders deploy/), or set KUBECTL"
fi

if [[ ! -f $certs/ca.crt || ! -f $certs/tls.crt || ! -f $certs/tls.key ]]; then
  "$root/certs/mint.sh" "$certs" >/dev/null
fi
if ! openssl x509 -in "$certs/tls.crt" -noout -checkhost "$service_host" 2>/dev/null | grep -q 'does match'; then
  fail "$certs/tls.crt is not for $service_host: mint one with certs/mint.sh"
fi
if ! openssl verify -CAfile "$certs/ca.crt" "$certs/tls.crt" >/dev/null 2>&1; then
  fail "$certs/tls.crt is not signed by $certs/ca.crt: the API server would refuse it"
fi

# Physical path: kustomize resolves the base relative to where the directory really is.
work=$(cd "$(mktemp -d)" && pwd -P)
trap 'rm -rf "$work"' EXIT
(umask 077 && cp "$certs/tls.crt" "$certs/tls.key" "$work/")

# Kustomize takes no absolute paths: the base is named relative to the scratch directory.
base=$(node -e 'process.stdout.write(require("node:path").relative(process.argv[1], process.argv[2]))' "$work" "$root/deploy/base")
images=
if [[ -n $image ]]; then
  name=$image tag=
  # A tag is what follows the last colon, unless that colon belongs to a registry's port (a slash follows it).
  if [[ $image == *:* && ${image##*:} != */* ]]; then
    name=${image%:*} tag=${image##*:}
  fi
  images="images:
  - name: ghcr.io/stepsplice/stepsplice
    newName: $name${tag:+
    newTag: \"$tag\"}"
fi
cat >"$work/kustomization.yaml" <<EOF
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - $base
  - ca-bundle.yaml
secretGenerator:
  - name: stepsplice-tls
    namespace: $namespace
    type: kubernetes.io/tls
    files: [tls.crt, tls.key]
    options:
      disableNameSuffixHash: true
      labels:
        app.kubernetes.io/name: stepsplice
# Every webhook of both configurations trusts the CA that signed tls.crt.
replacements:
  - source: { kind: ConfigMap, name: stepsplice-ca-bundle, fieldPath: data.caBundle }
    targets:
      - select: { kind: MutatingWebhookConfiguration, name: stepsplice }
        fieldPaths: [webhooks.*.clientConfig.caBundle]
        options: { create: true }
      - select: { kind: ValidatingWebhookConfiguration, name: stepsplice }
        fieldPaths: [webhooks.*.clientConfig.caBundle]
        options: { create: true }
$images
EOF
# Only a source for the replacements: local-config keeps it out of the output.
cat >"$work/ca-bundle.yaml" <<EOF
apiVersion: v1
kind: ConfigMap
metadata:
  name: stepsplice-ca-bundle
  annotations:
    config.kubernetes.io/local-config: "true"
data:
  caBundle: $(openssl base64 -A -in "$certs/ca.crt")
EOF

"$kubectl" kustomize "$work" >"$work/all.yaml"
# Split the documents: those with the webhook configurations' label go to phase 2, the rest to phase 1.
awk -v label="$phase_two_label" -v one="$work/phase1.yaml" -v two="$work/phase2.yaml" '
  function flush() { if (doc != "") { out = index(doc, label) ? two : one; printf "---\n%s", doc > out }; doc = "" }
  /^---$/ { flush(); next }
  { doc = doc $0 "\n" }
  END { flush() }
' "$work/all.yaml"
[[ -s $work/phase1.yaml && -s $work/phase2.yaml ]] || fail "rendering deploy/base gave no webhook configurations or nothing else; see $work/all.yaml"

if ((dry_run)); then
  echo "# phase 1: $kubectl apply -f - <<the objects below>>"
  cat "$work/phase1.yaml"
  echo "# then: $kubectl -n $namespace rollout status deployment/stepsplice --timeout=$rollout_timeout"
  echo "# phase 2: $kubectl apply -f - <<the objects below>>"
  cat "$work/phase2.yaml"
  exit 0
fi

"$kubectl" apply -f "$work/phase1.yaml"
if ! "$kubectl" -n "$namespace" rollout status deployment/stepsplice --timeout="$rollout_timeout"; then
  cat >&2 <<EOF
dev.sh: the Deployment did not become ready within $rollout_timeout; the webhook configurations were NOT applied.
  Its pods are ready when /readyz answers 200: with --kube, once the StepActions and Tasks of
  Tekton Pipelines are synced. Without Tekton (no StepAction CRD) they stay unready: install Tekton
  Pipelines with StepActions enabled, or run without --kube (deploy/README.md, "Without Tekton").
  Look: $kubectl -n $namespace get pods; $kubectl -n $namespace logs deployment/stepsplice
EOF
  exit 1
fi
"$kubectl" apply -f "$work/phase2.yaml"
echo "stepsplice is installed; try: $kubectl create --dry-run=server -o yaml -f examples/taskruns/build.yaml" >&2
