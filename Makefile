# Set-up and everyday commands. Every target bootstraps .venv from nothing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test dev lint bench simulator clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall when the package metadata changes.
$(STAMP): pyproject.toml setup.cfg | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	INFINITY_DEMO=1 $(BIN)/python -m infinity_dagster.demo

# The browser test drives Debian's chromium; install it once when it is missing (CI runs as root
# on a fresh machine; elsewhere sudo is used).
CHROMIUM := /usr/bin/chromium

$(CHROMIUM):
	@echo "Installing Debian's chromium for the browser test (once) ..."
	@SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); export DEBIAN_FRONTEND=noninteractive; \
		$$SUDO apt-get update -qq >/dev/null && \
		$$SUDO apt-get install -y -qq chromium >/dev/null

test: $(STAMP) $(CHROMIUM)
	$(BIN)/ruff check infinity_dagster tests benchmarks
	$(BIN)/python -m pytest

dev: $(STAMP)
	INFINITY_DEMO=1 DAGSTER_HOME=$${DAGSTER_HOME:-$(CURDIR)/.dagster_home} \
		sh -c 'mkdir -p "$$DAGSTER_HOME" && $(BIN)/dagster dev -w workspace.yaml'

lint: $(STAMP)
	$(BIN)/ruff check infinity_dagster tests benchmarks
	$(BIN)/ruff format --check infinity_dagster tests benchmarks

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m benchmarks.run $(BENCH_ARGS)

simulator: $(STAMP)
	$(BIN)/python -m infinity_dagster.simulator --port 8750

clean:
	rm -rf $(VENV) data .dagster_home
