# Every target installs what it needs: a fresh clone needs only node and npm.
# node_modules/.bin comes first on PATH so the Node 24 from the `node`
# devDependency runs everything, whatever node the machine has.
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)

STAMP := node_modules/.stepsplice-installed
TAPFLAGS ?=

.PHONY: install typecheck lint test run certs demo bench clean

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

test: typecheck lint
	tap $(TAPFLAGS)

# The webhook on https://localhost:8443 with dev certificates and the example catalog.
run: $(STAMP) certs/tls.crt
	node bin/stepsplice.js serve --host 127.0.0.1 --port 8443 --catalog examples/stepactions

certs: certs/tls.crt

certs/tls.crt:
	certs/mint.sh

# Posts an example AdmissionReview to a running `make run` and prints the decoded patch.
# REVIEW=examples/admission/pod-review.json for the Pod example.
REVIEW ?= examples/admission/taskrun-review.json
demo: $(STAMP)
	curl -sS --cacert certs/ca.crt -H 'Content-Type: application/json' \
	  --data @$(REVIEW) https://localhost:8443/mutate \
	  | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const r=JSON.parse(s).response;console.log(JSON.stringify({...r,patch:undefined},null,2));if(r.patch)console.log(JSON.stringify(JSON.parse(Buffer.from(r.patch,"base64")),null,2))})'

bench: $(STAMP)
	npm run bench

clean:
	rm -rf node_modules .tap coverage
