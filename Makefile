# Every target installs what it needs: a fresh clone needs only node and npm.
# node_modules/.bin comes first on PATH so the Node 24 from the `node`
# devDependency runs everything, whatever node the machine has.
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)
# Node compiles each module once per run, not once per process: tests start
# many processes and worker threads over the same sources (about 8% less CPU
# for make test). Node checks every entry against the source it was built from.
export NODE_COMPILE_CACHE := $(CURDIR)/node_modules/.cache/node-compile-cache

STAMP := node_modules/.stepsplice-installed
TAPFLAGS ?=

.PHONY: install typecheck lint test run certs demo bench clean k8s-tools deploy-dev

install: $(STAMP)

$(STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	tap build
	@touch $@

typecheck: $(STAMP)
	tsc --noEmit -p .

# Biome (lint and format), the layer rules of .dependency-cruiser.mjs, and knip (unused files, exports, dependencies).
lint: $(STAMP)
	npm run lint

test: typecheck lint k8s-tools
	tap $(TAPFLAGS)

# The webhook on https://localhost:8443 with dev certificates and the example catalogs (StepActions; Tasks and a TaskGroup).
run: $(STAMP) certs/tls.crt
	node bin/stepsplice.js serve --host 127.0.0.1 --port 8443 --catalog examples/stepactions --catalog examples/tasks

certs: certs/tls.crt

certs/tls.crt:
	certs/mint.sh

# Posts an example AdmissionReview to a running `make run` and prints the decoded patch.
# REVIEW=examples/admission/pod-review.json for the Pod example.
REVIEW ?= examples/admission/taskrun-review.json
DEMO_URL := https://localhost:8443
demo: $(STAMP)
	@curl -sS --fail --max-time 5 --cacert certs/ca.crt $(DEMO_URL)/healthz >/dev/null 2>&1 \
	  || { echo "make demo: no stepsplice at $(DEMO_URL) (start it with make run)" >&2; exit 1; }
	@test -r $(REVIEW) || { echo "make demo: cannot read $(REVIEW)" >&2; exit 1; }
	@reply=$$(curl -s --fail-with-body --max-time 10 --cacert certs/ca.crt -H 'Content-Type: application/json' \
	  --data @$(REVIEW) $(DEMO_URL)/mutate) || { echo "make demo: $(DEMO_URL)/mutate refused $(REVIEW): $$reply" >&2; exit 1; }; \
	printf '%s' "$$reply" \
	  | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const r=JSON.parse(s).response;console.log(JSON.stringify({...r,patch:undefined},null,2));if(r.patch)console.log(JSON.stringify(JSON.parse(Buffer.from(r.patch,"base64")),null,2))})'

# kubectl and helm, for the tests that render deploy/ (deploy/k8s-tools.sh says where they come from).
k8s-tools: $(STAMP)
	deploy/k8s-tools.sh

# stepsplice into the current kubectl context, without cert-manager: certs/ as the serving Secret, then the
# webhook configurations once the Deployment is ready (deploy/dev.sh). DRY_RUN=1 prints the objects instead.
# IMAGE=name:tag runs that image.
deploy-dev: certs/tls.crt
	deploy/dev.sh $(if $(DRY_RUN),--dry-run)

bench: $(STAMP)
	npm run bench

clean:
	rm -rf node_modules .tap coverage dist
