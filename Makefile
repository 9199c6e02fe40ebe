# kafkaplan -- development entry points.
#   make demo   local Kafka + registry up, the example specs planned and applied, then a clean re-plan
#   make test   ruff, mypy --strict and the whole pytest suite against a real Kafka and registry
# Both install what they need into .venv (Python packages) and .stack/cache (Maven artifacts).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# actionlint checks the GitHub workflows; built from its Go module into the stack's cache.
ACTIONLINT_VERSION := v1.7.12
ACTIONLINT := .stack/cache/bin/actionlint-$(ACTIONLINT_VERSION)

# The lock files: exact versions with hashes, for CI and the action (pyproject.toml keeps
# ranges). `make lock` keeps the pinned versions that still fit and pins what is new;
# `make lock-upgrade` moves everything to the newest versions that fit.
UV_VERSION := 0.13.8
LOCK_FLAGS := --universal --python-version 3.11 --generate-hashes --native-tls --quiet \
	--custom-compile-command 'make lock'

.PHONY: install lint test unit demo stack-up stack-down clean lock lock-upgrade

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,aws]'
	touch $(STAMP)

install: $(STAMP)

$(BIN)/uv: $(STAMP)
	$(BIN)/python -m pip install --quiet uv==$(UV_VERSION)

lock: $(BIN)/uv
	$(BIN)/uv pip compile pyproject.toml $(LOCK_FLAGS) $(LOCK_UPGRADE) -o requirements.lock
	$(BIN)/uv pip compile pyproject.toml $(LOCK_FLAGS) $(LOCK_UPGRADE) --extra dev -o requirements-dev.lock

lock-upgrade:
	$(MAKE) lock LOCK_UPGRADE=--upgrade

$(ACTIONLINT):
	mkdir -p $(dir $@)
	GOBIN=$(abspath $(dir $@)) go install github.com/rhysd/actionlint/cmd/actionlint@$(ACTIONLINT_VERSION)
	mv $(dir $@)actionlint $@

lint: install $(ACTIONLINT)
	$(BIN)/ruff check kafkaplan tests bench tools
	$(BIN)/ruff format --check kafkaplan tests bench tools
	$(BIN)/mypy --strict kafkaplan tests bench tools
	$(BIN)/shellcheck scripts/action/*.sh scripts/stack scripts/run-tests scripts/run-matrix scripts/demo scripts/render-comment
	PATH="$(abspath $(BIN)):$$PATH" $(ACTIONLINT) .github/workflows/*.yml .github/examples/workflows/*.yml

# The whole suite: unit and integration tests, with the local stack started (and stopped
# again if this run started it). Extra pytest arguments: make test PYTEST_ARGS='-k acl'.
# Then the matrix subset (-m matrix) on the other Kafka releases and on the second registry,
# each on its own stack (scripts/run-matrix); `make test MATRIX=` leaves it out.
MATRIX ?= kafka-3.9 kafka-4.4 axonops

test: lint
	scripts/run-tests $(PYTEST_ARGS)
	$(if $(strip $(MATRIX)),scripts/run-matrix $(MATRIX))

# Unit tests and the contract tests' in-memory half: no Kafka needed.
unit: install
	$(BIN)/pytest -q tests/unit tests/contract -m "not integration"

demo: install
	scripts/demo

stack-up:
	scripts/stack up --security

stack-down:
	scripts/stack down

clean: stack-down
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
