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

.PHONY: install lint test unit demo stack-up stack-down clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,aws]'
	touch $(STAMP)

install: $(STAMP)

$(ACTIONLINT):
	mkdir -p $(dir $@)
	GOBIN=$(abspath $(dir $@)) go install github.com/rhysd/actionlint/cmd/actionlint@$(ACTIONLINT_VERSION)
	mv $(dir $@)actionlint $@

lint: install $(ACTIONLINT)
	$(BIN)/ruff check kafkaplan tests bench tools
	$(BIN)/ruff format --check kafkaplan tests bench tools
	$(BIN)/mypy --strict kafkaplan tests bench tools
	$(ACTIONLINT) .github/workflows/*.yml .github/examples/workflows/*.yml

# The whole suite: unit and integration tests, with the local stack started (and stopped
# again if this run started it). Extra pytest arguments: make test PYTEST_ARGS='-k acl'.
test: lint
	scripts/run-tests $(PYTEST_ARGS)

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
