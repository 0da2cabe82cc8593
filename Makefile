# The two commands a newcomer needs: `make run` and `make test`. Both work on a fresh machine with Python 3.11:
# they create .venv, install PML into it, and start whatever the service or the tests need.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: run test lint bench clean lock

$(INSTALLED): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $@

## run: start PML on http://127.0.0.1:8000 (embedded PostgreSQL under .pml/ unless PML_DATABASE_URL is set)
run: $(INSTALLED)
	$(BIN)/pml serve

## test: ruff and mypy, then the whole test suite against a throwaway PostgreSQL (and Redis) started by the tests
test: $(INSTALLED)
	$(BIN)/ruff check pml api interactions loaders tests benchmarks
	$(BIN)/mypy
	bash scripts/test-services.sh
	$(BIN)/pytest

lint: $(INSTALLED)
	$(BIN)/ruff check pml api interactions loaders tests benchmarks
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pml

## lock: pin the versions of every dependency (run after changing pyproject.toml dependencies)
lock:
	rm -rf .lock-venv
	$(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet --upgrade pip
	.lock-venv/bin/python -m pip install --quiet '.[test]'
	{ echo "# Exact versions PML is tested with: \`make test\` and the Docker image install within these."; \
	  echo "# Regenerate with \`make lock\` after changing dependencies in pyproject.toml."; \
	  .lock-venv/bin/python -m pip freeze | grep -v '^pml'; } > constraints.txt
	rm -rf .lock-venv
