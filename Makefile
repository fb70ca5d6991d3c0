# Everything a user or CI runs. `make help` lists the targets.
SERVICES := identity logging notification careergpt
IMAGES   := $(SERVICES) conformance
TAG      ?= dev
GO       ?= go
COMPOSE  ?= $(shell command -v docker-compose >/dev/null 2>&1 && echo docker-compose || echo docker compose)
# This project's services under each token profile they speak: RFC 9068
# access tokens, SPIFFE JWT-SVIDs, Kubernetes service-account tokens.
TARGET   ?= conformance/targets/local.json conformance/targets/local-jwt-svid.json conformance/targets/local-kubernetes.json
PIN_CLIENT := $(shell command -v taskset >/dev/null 2>&1 && echo taskset -c 1)

.PHONY: help demo test build images up down conformance conformance-docker bench vet fmt

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

demo: ## run all four services on loopback, play the scenario, keep serving
	$(GO) run ./cmd/demo

test: ## every test, with the race detector (set REQUIRE_DOCKER=1 to fail instead of skip without Docker)
	TESTCONTAINERS_RYUK_DISABLED=true TESTCONTAINERS_HOST_OVERRIDE=localhost $(GO) test -race -timeout 20m ./...

build: ## build every binary into bin/
	$(GO) build -o bin/ ./cmd/...

images: ## build the service images offline: static binaries from this host, FROM scratch
	@mkdir -p build/bin
	@for s in $(IMAGES); do \
		CGO_ENABLED=0 $(GO) build -trimpath -ldflags="-s -w" -o build/bin/$$s ./cmd/$$s || exit 1; \
		docker build -q -f deploy/Dockerfile.offline --build-arg SERVICE=$$s -t s2sjwt/$$s:$(TAG) . >/dev/null 2>build/docker-build.log || { cat build/docker-build.log; exit 1; }; \
		echo "s2sjwt/$$s:$(TAG)"; \
	done

up: images ## build the images offline and start the stack (Ctrl+C stops it)
	$(COMPOSE) up

down: ## stop the stack and delete its volumes
	$(COMPOSE) down -v --remove-orphans

ifeq ($(DOCKER),1)
conformance: conformance-docker ## run the conformance suite (TARGET=file for another implementation; DOCKER=1: images via testcontainers)
else
conformance: build ## run the conformance suite (TARGET=file for another implementation; DOCKER=1: images via testcontainers)
	@set -e; for t in $(TARGET); do echo "== $$t"; ./bin/conformance -target $$t $(ARGS); done
endif

conformance-docker: build images ## run the suite against images started with testcontainers
	TESTCONTAINERS_RYUK_DISABLED=true TESTCONTAINERS_HOST_OVERRIDE=localhost ./bin/conformance docker $(ARGS)

bench: ## the benchmarks recorded in docs/benchmarks.md (TEST_DATABASE_URL adds PostgreSQL)
	$(GO) test -run '^$$' -bench 'Verify' -benchmem ./internal/authn/
	$(GO) test -run '^$$' -bench 'IssueToken' -benchmem -cpu 1 ./identity/
	$(GO) test -run '^$$' -bench 'Store_Use' -benchtime 2s -count 3 ./internal/replay/
	$(GO) test -run '^$$' -bench 'Purge_CheckLatency' -benchtime 1x -count 3 ./internal/replay/
	$(GO) test -run '^$$' -bench 'Store_ListRecent' -benchtime 20x -count 3 ./logging/
	@# servers pinned to CPU 0 by the benchmarks, their client on CPU 1
	$(PIN_CLIENT) $(GO) test -run '^$$' -bench 'TokenEndpoint' -benchtime 3s -count 3 ./cmd/identity/
	$(PIN_CLIENT) $(GO) test -run '^$$' -bench HTTP -benchtime 3s -count 3 ./cmd/logging/ ./cmd/notification/

vet: ## go vet and gofmt
	$(GO) vet ./...
	@test -z "$$(gofmt -l .)" || (gofmt -l . && exit 1)
