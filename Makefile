# Every target installs what it needs: a fresh clone needs only node and npm.
# node_modules/.bin comes first on PATH so the Node 24 from the `node`
# devDependency runs everything, whatever node the machine has.
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)

STAMP := node_modules/.stepsplice-installed
TAPFLAGS ?=

.PHONY: install typecheck test run render bench clean

install: $(STAMP)

$(STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	tap build
	@touch $@

typecheck: $(STAMP)
	tsc --noEmit -p .

test: typecheck
	tap $(TAPFLAGS)

# Until the webhook server lands, `make run` renders the example TaskRun.
run: $(STAMP)
	node bin/stepsplice.js render --catalog examples/stepactions -f examples/taskruns/build.yaml

bench: $(STAMP)
	npm run bench

clean:
	rm -rf node_modules .tap coverage
