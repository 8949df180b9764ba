# Sluice build, run and test entry points. `make run` and `make test` are the
# two commands the README promises work on a fresh machine.
GO        ?= go
BIN       := bin/sluice
VENV      := .venv
PY        := $(VENV)/bin/python
export PATH := $(CURDIR)/bin:$(PATH)
# Every process the Go tests and the e2e scripts start carries
# SLUICE_E2E_RUN=$(E2E_RUN) in its environment (not make's own, nor
# the check's); e2e/lib/leftovers.sh then lists any still running, ends
# them and fails.
E2E_RUN   := make-$(shell date -u +%Y%m%dT%H%M%S)-$(shell echo $$PPID)
LEFTOVERS := bash e2e/lib/leftovers.sh $(E2E_RUN)

.PHONY: all build run test deps deps-go deps-system deps-python vet lint go-test e2e bench bench-go bench-more soak clean fmt query

all: build

build:
	$(GO) build -o $(BIN) ./cmd/sluice

## run: build, start sluice server (data in ./data) with the activity
## example's pipelines (examples/activity/pipelines) scheduled @every 1m and
## its generator producing events; the lake is ./data/lake (make query).
## DEMO=0 make run starts the server alone.
run: build
	examples/run.sh

## test: install what the tests need, then vet, Go tests and e2e scripts
test: deps vet go-test e2e

deps: deps-go deps-system deps-python

deps-go:
	$(GO) mod download

# kcat for the librdkafka tests; a JDK and Maven for Spark, HDFS's
# MiniDFSCluster and Apache Kafka (fetched from Maven Central by e2e/);
# iperf3 for the benchmarks' loopback TCP limit.
deps-system:
	@missing=""; \
	command -v kcat >/dev/null 2>&1 || missing="$$missing kcat"; \
	{ command -v javac >/dev/null 2>&1 && command -v java >/dev/null 2>&1; } || missing="$$missing openjdk-17-jdk-headless"; \
	command -v mvn >/dev/null 2>&1 || missing="$$missing maven"; \
	command -v iperf3 >/dev/null 2>&1 || missing="$$missing iperf3"; \
	if [ -n "$$missing" ]; then \
	  echo "installing from Debian:$$missing"; \
	  (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

deps-python: $(VENV)/.installed

$(VENV)/.installed: e2e/requirements.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r e2e/requirements.txt
	touch $@

vet:
	$(GO) vet ./...

lint: vet
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

# The cluster fault tests (three broker processes each, in network
# namespaces) run after the other packages, alone, so that their disk and
# CPU load does not starve the other packages' tests on a small machine.
go-test: build
	@rc=0; SLUICE_E2E_RUN=$(E2E_RUN) $(GO) test -count=1 -timeout 15m $$($(GO) list ./... | grep -v /broker/clusterfault) || rc=$$?; \
	SLUICE_E2E_RUN=$(E2E_RUN) $(GO) test -count=1 -timeout 10m ./broker/clusterfault/ || rc=$$?; \
	$(LEFTOVERS) || rc=1; exit $$rc

## query: the activity example's DuckDB queries (examples/activity/queries/duckdb)
## over the lake its pipelines landed: LAKE=DIR, else $$SLUICE_LAKE, else ./data/lake
## (examples/README.md, "The activity example")
LAKE ?= $(or $(SLUICE_LAKE),./data/lake)
query: deps-python
	$(PY) examples/activity/query.py --lake $(LAKE)

## e2e: every e2e/*/run.sh, each against real peers (kcat, pyarrow, DuckDB, Spark, HDFS);
## fails if a process one started is still running at the end
e2e: build deps
	@rc=0; for s in e2e/*/run.sh; do \
	  [ -f "$$s" ] || continue; echo "== $$s"; \
	  SLUICE_E2E_RUN=$(E2E_RUN) bash "$$s" || { rc=$$?; break; }; done; \
	$(LEFTOVERS) || rc=1; exit $$rc

## bench: Sluice against Apache Kafka and Spark in alternating rounds
## (bench/run.sh; BENCH_ROUNDS, BENCH_ONLY and the other knobs it lists);
## writes bench/RESULTS.md. Takes about 40 minutes on 2 cores.
bench: build deps
	@rc=0; SLUICE_E2E_RUN=$(E2E_RUN) bash bench/run.sh || rc=$$?; \
	$(LEFTOVERS) || rc=1; exit $$rc

## bench-go: the Go benchmarks (go test -bench) of every package
bench-go:
	$(GO) test -run '^$$' -bench . -benchmem ./...

## bench-more: the scheduler's and HDFS sink's own benchmarks (e2e/*/bench.sh)
bench-more: build deps
	@rc=0; for s in e2e/*/bench.sh; do [ -f "$$s" ] || continue; echo "== $$s"; \
	  SLUICE_E2E_RUN=$(E2E_RUN) bash "$$s" || rc=$$?; done; \
	$(LEFTOVERS) || rc=1; exit $$rc

## soak: long-running fault and load tests
soak: build
	@for s in e2e/*/soak.sh broker/clusterfault/soak.sh; do [ -f "$$s" ] || continue; echo "== $$s"; bash "$$s"; done

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin
