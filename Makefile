# Everything a fresh clone needs, from only Python >= 3.11 and make.
PYTHON ?= python3
TOOLS := .tools
UV := $(TOOLS)/bin/uv
UV_VERSION := 0.13.8
VENV := .venv
BIN := $(VENV)/bin
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: setup test lint typecheck pytest validate demo dev demo-ui emulator bench clean

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet "uv==$(UV_VERSION)"

# --compile-bytecode: every `scarf-etl load` and step process imports Dagster, polars and DuckDB;
# without .pyc files (PYTHONDONTWRITEBYTECODE, read-only installs) that is seconds of compiling
# in each of them.
$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --compile-bytecode --python $(PYTHON)
	touch $@

setup: $(VENV)/.synced

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy

validate: setup
	DAGSTER_HOME= $(BIN)/dagster definitions validate -m scarf_etl.definitions

pytest: setup
	$(BIN)/pytest

test: lint typecheck validate pytest

demo: setup
	$(BIN)/python -m scarf_etl.commands.demo

# DAGSTER_HOME needs the project's dagster.yaml (pools, run monitoring): copied there if absent.
dev: setup
	home=$${DAGSTER_HOME:-$(CURDIR)/.dagster_home}; mkdir -p $$home; \
	test -f $$home/dagster.yaml || cp dagster.yaml $$home/; \
	DAGSTER_HOME=$$home $(BIN)/dagster dev -w workspace.yaml

# The UI on the bundled emulator and the demo's own state (data/demo/): what `make demo` loaded,
# plus materialize/backfill buttons that call the emulator (same volume). Ctrl-C stops both.
DEMO_PORT ?= 8765
demo-ui: setup
	home=$(CURDIR)/data/demo/dagster_home; mkdir -p $$home; \
	test -f $$home/dagster.yaml || cp dagster.yaml $$home/; \
	$(BIN)/scarf-etl emulator --port $(DEMO_PORT) --events-per-day 200 & emulator=$$!; \
	trap 'kill $$emulator' EXIT INT TERM; \
	SCARF_API_TOKEN=scarf-demo-token SCARF_OWNER=acme-labs SCARF_DATA_DIR=$(CURDIR)/data/demo \
	SCARF_API_URL=http://127.0.0.1:$(DEMO_PORT)/api/v1 SCARF_API_V2_URL=http://127.0.0.1:$(DEMO_PORT)/v2 \
	SCARF_API_V3_URL=http://127.0.0.1:$(DEMO_PORT)/v3 \
	SCARF_PARTITIONS_START=$$($(BIN)/python -c 'import datetime as d; print(d.date.today() - d.timedelta(30))') \
	DAGSTER_HOME=$$home $(BIN)/dagster dev -w workspace.yaml

emulator: setup
	$(BIN)/scarf-etl emulator --port $${PORT:-8765}

bench: setup
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) $(TOOLS) .dagster_home .pytest_cache .mypy_cache .ruff_cache
