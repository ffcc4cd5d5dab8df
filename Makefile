# mcphub. `make run` and `make test` are all a fresh clone needs.
GO      ?= go
BIN     := bin
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
# The shipped build: no symbol table or DWARF (-s -w) and no gin msgpack codec
# (nomsgpack; the API speaks JSON only): 3 MB less resident memory, measured by
# `make bench`. Profile with pprof (it needs neither), or build without them.
# The Dockerfile's build stage and internal/repobin repeat these flags.
BUILDFLAGS := -trimpath -tags nomsgpack
LDFLAGS := -s -w -X main.version=$(VERSION)
FUZZTIME ?= 1m
FUZZCOUNT ?= 10000x

.PHONY: all build run test test-go test-allocs peers docs lint-openapi fuzz fuzz-short vet clean bench soak install image

all: build

build:
	$(GO) build $(BUILDFLAGS) -ldflags "$(LDFLAGS)" -o $(BIN)/mcphub ./cmd/mcphub
	$(GO) build -o $(BIN)/example-server ./cmd/example-server

## run: build both binaries and start the hub on ./mcp_servers.yaml
run: build
	./$(BIN)/mcphub -c mcp_servers.yaml

## install: go install the hub with the version stamped (into GOBIN or GOPATH/bin)
install:
	$(GO) install $(BUILDFLAGS) -ldflags "$(LDFLAGS)" ./cmd/mcphub

## image: the container image (needs a Docker engine with BuildKit)
IMAGE ?= mcphub:$(VERSION)
image:
	docker build --build-arg VERSION=$(VERSION) -t $(IMAGE) .

## bench: the load tool (cmd/mcphub-bench) with its defaults: the example
## server called directly and through the hub (REST and /mcp, HTTP and stdio),
## sequential and 16 concurrent, as ratios to the direct call, and the RSS of
## cmd/dep-floor (the libraries the hub is built on, alone) beside the hub's, and
## the call through cmd/proxy-floor (a bare net/http pass-through: what
## net/http's server and client cost by themselves; in front of a stdio child,
## lines to it and back) and through mcp-hub (the most
## popular Node MCP hub, an npm test peer) beside the hub's; about 6 minutes.
## Options: make bench BENCHFLAGS="-json -d 5s"; with TBXark/mcp-proxy (the Go
## proxy built on mcp-go) side by side: BENCHFLAGS="-mcp-proxy BIN" (about 6.5 minutes)
BENCHFLAGS ?=
bench: build
	$(GO) build $(BUILDFLAGS) -ldflags "$(LDFLAGS)" -o $(BIN)/dep-floor ./cmd/dep-floor
	$(GO) build $(BUILDFLAGS) -ldflags "$(LDFLAGS)" -o $(BIN)/proxy-floor ./cmd/proxy-floor
	./scripts/install-test-peers.sh --npm
	$(GO) run ./cmd/mcphub-bench $(BENCHFLAGS)

## soak: the soak tool (cmd/mcphub-soak): mixed traffic (calls, streams,
## lists, approvals, an events subscriber) against servers that fault at
## random; fails on any error that is not an injected fault.
## Options: make soak SOAKFLAGS="-d 10m -c 16 -json"
SOAKFLAGS ?= -d 2m -c 16
soak: build
	$(GO) build -o $(BIN)/fault-server ./cmd/fault-server
	$(GO) run ./cmd/mcphub-soak $(SOAKFLAGS)

## test: everything CI runs (installs the npm test peers first)
test: peers lint-openapi vet test-go test-allocs fuzz-short

peers:
	./scripts/install-test-peers.sh

vet:
	$(GO) vet ./...
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' | grep -v '^docs/')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi

test-go:
	MCPHUB_REQUIRE_PEERS=1 $(GO) test -race -count=1 -timeout 10m ./...

## test-allocs: the allocation-count tests that skip under -race (sync.Pool
## drops items at random there), again without it. Such a test is named
## Test...Allocations, which is how this finds it (see raceEnabled).
test-allocs:
	$(GO) test -count=1 -run 'Allocations$$' ./...

## fuzz-short: each fuzz target for a fixed number of inputs, in make test.
## A count, not a duration: with -fuzztime as a duration, Go 1.26's fuzz
## coordinator can fail a target with "context deadline exceeded" as the time
## runs out (golang/go#75804, fixed in Go 1.27).
## fuzz: each fuzz target for FUZZTIME (make fuzz FUZZTIME=5m)
fuzz-short: FUZZTIME = $(FUZZCOUNT)
fuzz-short fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "fuzz $$pkg $$t ($(FUZZTIME))"; \
	    $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

## docs: regenerate the API documents from the handlers' swag annotations:
## docs/ (Swagger 2.0, served by Swagger UI at /swagger/) with swag, then
## openapi.yaml (OpenAPI 3, served at /openapi.yaml) from docs/swagger.json.
## api/spec_test.go runs this into a temporary directory and fails on a diff.
DOCS_OUT    ?= docs
OPENAPI_OUT ?= openapi.yaml
docs:
	$(GO) tool swag init -g api/router.go -o $(DOCS_OUT) --outputTypes go,json,yaml --useStructName --requiredByDefault
	$(GO) run ./cmd/swagger2openapi -o $(OPENAPI_OUT) $(DOCS_OUT)/swagger.json

## lint-openapi: lint openapi.yaml with Redocly CLI (pinned in test/peers;
## rules in redocly.yaml). Telemetry and update checks are off.
lint-openapi: peers
	REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_NOTIFICATIONS=true \
	  test/peers/node_modules/.bin/redocly lint --config redocly.yaml openapi.yaml

clean:
	rm -rf $(BIN)
