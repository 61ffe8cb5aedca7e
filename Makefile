# Every target fails loudly; none skips. Tools are pinned in go.mod and run
# through `go tool`, so a fresh clone needs only Go.

GO        ?= go
BIN       ?= bin/pdp
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X github.com/pdp-dev/pdp/server/internal/version.Version=$(VERSION)
# The demo trusts X-Forwarded-For from loopback, so that a proxy on the same
# machine (docs/forward-auth.md) passes on the client's address.
DEMO_ARGS ?= --tenants server/demo/tenants --policy-dir server/demo/policies --log-format text \
             --trusted-proxies 127.0.0.1/32,::1/128
TEST_FLAGS ?= -race -count=1 -timeout 15m
FUZZTIME  ?= 10s
SOAK_DURATION ?= 10m

.PHONY: all build run check-tools test test-short docs generate generate-check lint fmt fuzz soak bench bench-check bench-go tidy-check clean

all: generate-check lint test

## build: compile bin/pdp
build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./server/cmd/pdp

## run: serve on 127.0.0.1:9191 (gRPC) and 127.0.0.1:8181 (HTTP) with the demo
## tenants, trusting proxies on loopback
run: build
	./$(BIN) serve $(DEMO_ARGS)

## check-tools: fail, saying how to install it, when a program the tests run is missing
check-tools:
	@command -v redis-server >/dev/null 2>&1 || { \
	  echo "redis-server is not on PATH: the Redis store tests run against a real one."; \
	  echo "install redis-server (apt-get install -y redis-server)"; exit 1; }
	@command -v nginx >/dev/null 2>&1 || { \
	  echo "nginx is not on PATH: forward-auth is tested behind a real nginx."; \
	  echo "install nginx (apt-get install -y nginx)"; exit 1; }
	@command -v curl >/dev/null 2>&1 && command -v bash >/dev/null 2>&1 || { \
	  echo "curl or bash is not on PATH: the console examples of the docs run through them."; \
	  echo "install them (apt-get install -y curl bash)"; exit 1; }

## test: every Go test, the Rego unit tests (through OPA's tester), the fuzz
## seed corpora and the docs' console examples (server/internal/docexamples)
test: check-tools
	$(GO) test $(TEST_FLAGS) ./...

## test-short: the same without the race detector
test-short: check-tools
	$(GO) test -count=1 ./...

## docs: regenerate the `pdp serve` flag tables in docs/ from the flags
## server/internal/config registers (`make test` fails when they are stale)
docs:
	$(GO) run ./server/cmd/flagdocs -w .

## generate: regenerate gen/ from proto/
generate:
	$(GO) tool buf generate

## generate-check: fail when gen/ is stale
generate-check: generate
	@git diff --exit-code --stat -- gen/ || { echo "gen/ is stale: run 'make generate' and commit the result"; exit 1; }
	@test -z "$$(git status --porcelain -- gen/)" || { git status --porcelain -- gen/; echo "gen/ has untracked files: run 'make generate' and commit the result"; exit 1; }

## lint: go vet, gofmt, buf lint and buf format, opa fmt, go.mod tidiness
## (both modules) and every relative Markdown link
lint:
	$(GO) vet ./...
	@$(GO) mod tidy -diff >/dev/null || { $(GO) mod tidy -diff; echo "go.mod/go.sum are not tidy: run 'go mod tidy'"; exit 1; }
	@cd bench && $(GO) mod tidy -diff >/dev/null || { $(GO) mod tidy -diff; echo "bench/go.mod is not tidy: run 'cd bench && go mod tidy'"; exit 1; }
	$(GO) run ./server/cmd/mdlinks .
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '^gen/')); test -z "$$out" || { echo "gofmt needed on:"; echo "$$out"; exit 1; }
	$(GO) tool buf lint
	$(GO) tool buf format --diff --exit-code
	@out=$$($(GO) tool opa fmt --list rego server/demo/policies examples); test -z "$$out" || { echo "opa fmt needed on:"; echo "$$out"; exit 1; }

## fmt: format Go, proto and Rego sources
fmt:
	gofmt -w $$(git ls-files '*.go' | grep -v '^gen/')
	$(GO) tool buf format -w
	$(GO) tool opa fmt -w rego server/demo/policies examples

## fuzz: run each fuzz target for FUZZTIME
fuzz:
	@set -e; for pkg in $$($(GO) list ./server/...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

## soak: pdp serve on Redis for SOAK_DURATION under mixed traffic, policy
## reloads and Redis restarts (not in CI); ends with a `soak:` line and
## fails when an acknowledged write is lost or a call failed unprovoked.
soak: check-tools
	$(GO) run ./server/cmd/pdpsoak -duration $(SOAK_DURATION)

## bench: pdp next to a no-op gRPC server and OPA's REST server, then deny-list
## and profile scaling (bench/, its own module; under 5 minutes on 2 cores).
## Prints a table, writes bench/results/latest.md, ends with a `bench:` line.
bench:
	cd bench && $(GO) run ./cmd/pdpbench

## bench-check: vet and test the bench module (its own go.mod), so that a
## change under server/ cannot break `make bench` unnoticed; its tests check
## that the last line holds every field, in order, each a number.
bench-check:
	cd bench && $(GO) vet ./... && $(GO) test -count=1 ./...

## bench-go: Go benchmarks with allocations
bench-go:
	$(GO) test -run '^$$' -bench . -benchmem ./server/...

clean:
	rm -rf bin
