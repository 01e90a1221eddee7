# One entry point for people and CI: every target creates the venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LAMBDA_DEPS := build/lambda-deps
CHROMIUM := /usr/bin/chromium
# The Pulumi stack whose Pulumi.<stack>.yaml configures `make up` and `make run` too.
STACK ?= dev

.PHONY: install run up test test-fast console-screenshots lint format typecheck pr bench bench-cost lambda-deps clean

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

## Bring the stack up on the local runtime, drive the sample events end to end, print results and histories.
run: $(STAMP)
	$(BIN)/python -m local demo --stack $(STACK)

## Serve the stack on the local runtime until Ctrl-C.
up: $(STAMP)
	$(BIN)/python -m local up --stack $(STACK)

## The whole test suite (what CI runs); the console's browser tests need Debian's chromium.
test: $(STAMP) $(CHROMIUM)
	$(BIN)/python -m pytest -n 2 -q

## Debian's chromium for the console's browser tests (tests/console fail, never skip, without it).
$(CHROMIUM):
	if [ "$$(id -u)" = 0 ]; then apt-get update && apt-get install -y chromium; \
	else sudo apt-get update && sudo apt-get install -y chromium; fi

## The console's pages as docs/console-*.png (a stack of its own, headless chromium).
console-screenshots: $(STAMP) $(CHROMIUM)
	$(BIN)/python -m local.console.screenshots

## Everything but the tests that bring the local stack up (the `local` marker, tests/conftest.py).
test-fast: $(STAMP) $(CHROMIUM)
	$(BIN)/python -m pytest -n 2 -q -m "not local"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: $(STAMP)
	$(BIN)/mypy .

## The quality gate: lint, types, tests.
pr: lint typecheck test

bench: $(STAMP)
	$(BIN)/python -m bench.executions

## Dollars per million events for a realistic mix, per intake design (bench/cost.py).
bench-cost: $(STAMP)
	$(BIN)/python -m bench.cost

.PHONY: bench-throughput
## Single-event POSTs at 200/s through a local stack per intake: per-request vs queued.
bench-throughput: $(STAMP)
	$(BIN)/python -m bench.throughput --lone-event

## The project's Lambda layer, needed before `pulumi preview`/`up`: the wheels of every pin in
## functions/requirements.txt that the Powertools layer lacks (infra/dependency_layer.py),
## for CPython 3.13 on Linux arm64, into build/lambda-deps/python/.
lambda-deps: $(STAMP)
	rm -rf $(LAMBDA_DEPS) $(LAMBDA_DEPS).txt
	mkdir -p build
	$(BIN)/python -m infra.dependency_layer > $(LAMBDA_DEPS).txt
	$(BIN)/pip install --quiet --no-compile --platform manylinux2014_aarch64 --implementation cp \
		--python-version 3.13 --only-binary=:all: --target $(LAMBDA_DEPS)/python \
		-r $(LAMBDA_DEPS).txt

## Forget everything local; refused (nothing removed) while `make up` runs on .state.
clean:
	if [ -x $(BIN)/python ]; then $(BIN)/python -m local clean; fi
	rm -rf $(VENV) .state .mypy_cache .ruff_cache .pytest_cache
