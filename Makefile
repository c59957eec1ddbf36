# siyu: the two commands a new user runs are `make demo` and `make test`. Each sets itself up from uv.lock.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
UV := $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
STAMP := $(VENV)/.synced
SCALE ?= 1000000

.PHONY: setup system-deps demo airflow report docs test test-fast bench bench-spark bench-daily bench-pipeline lint clean

setup: $(STAMP)

$(STAMP): uv.lock pyproject.toml
	@if ! command -v uv >/dev/null 2>&1 && [ ! -x "$(HOME)/.local/bin/uv" ]; then \
		echo "installing uv with pip"; $(PYTHON) -m pip install --quiet --user uv || $(PYTHON) -m pip install --quiet uv; fi
	@UV=$$(command -v uv || echo $(HOME)/.local/bin/uv); $$UV sync --frozen --quiet --compile-bytecode --python $(PYTHON)
	@touch $(STAMP)

# What the tests and the report need from the system: Debian's Chromium (renders the HTML report
# headless), CJK fonts (Chinese labels), DejaVu (the report test's second run, on a machine without CJK
# fonts, uses only DejaVu) and Java 17 (local Spark for the Spark build test; pyspark brings Spark itself).
# Installed with apt-get when run as root; otherwise named.
SYSTEM_PACKAGES := chromium fonts-noto-cjk fonts-dejavu-core openjdk-17-jre-headless
system-deps:
	@if command -v chromium >/dev/null 2>&1 && fc-list 2>/dev/null | grep -qi "Noto Sans CJK" \
		&& [ -d /usr/share/fonts/truetype/dejavu ] && command -v java >/dev/null 2>&1; then exit 0; fi; \
	if [ "$$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing $(SYSTEM_PACKAGES) with apt-get"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSTEM_PACKAGES) >/dev/null; \
	else echo "please install: $(SYSTEM_PACKAGES) (Debian/Ubuntu: sudo apt-get install $(SYSTEM_PACKAGES))"; exit 1; fi

demo: setup
	$(VENV)/bin/siyu demo

airflow: setup
	$(VENV)/bin/siyu airflow

report: setup
	$(VENV)/bin/siyu report --warehouse data/demo/warehouse/siyu.duckdb --out data/demo/report

# dbt docs of the demo's warehouse: one file that opens from disk, and served at http://127.0.0.1:8081.
docs: setup
	$(VENV)/bin/siyu docs --data-dir data/demo --serve

test: setup system-deps
	$(VENV)/bin/pytest

test-fast: setup
	$(VENV)/bin/pytest -m "not integration"

# World generation, the clustering step beside scipy, and the whole pipeline through the simulators stage
# by stage, at SCALE persons (default 1,000,000: well over an hour on 2 cores). Figures go to BENCHMARKS.md.
SNAPSHOT_EVERY_DAYS ?= 7
# The Spark clustering bench's driver heap (the 1M identity graph: 3.7M identifiers, 5.3M edges).
SPARK_DRIVER_MEMORY ?= 8g
bench: setup system-deps
	SIYU_SPARK_DRIVER_MEMORY=$(SPARK_DRIVER_MEMORY) $(VENV)/bin/python -m siyu_sim.bench --scale $(SCALE) \
		--snapshot-every-days $(SNAPSHOT_EVERY_DAYS)
	$(VENV)/bin/python -m siyu_sim.bench --only daily --scale $(DAILY_SCALE)

# Only the clustering step on Spark beside scipy, on the identity graph built from the world without the
# whole pipeline: only the sources the graph reads landed, then dbt up to int_identity_edges (35 minutes at 1M).
bench-spark: setup system-deps
	SIYU_SPARK_DRIVER_MEMORY=$(SPARK_DRIVER_MEMORY) $(VENV)/bin/python -m siyu_sim.bench --only identity-spark \
		--scale $(SCALE) --graph identity-sources

# The daily runs side by side (issue 22): the full build, the daily run after one new day, the no-change
# rerun and the 30th daily run, each with its peak memory, at DAILY_SCALE persons; `make bench` runs it last.
DAILY_SCALE ?= 100000
bench-daily: setup
	$(VENV)/bin/python -m siyu_sim.bench --only daily --scale $(DAILY_SCALE)

# Only the whole pipeline (make bench-pipeline SCALE=100000).
bench-pipeline: setup
	$(VENV)/bin/python -m siyu_sim.bench --only quality --scale $(SCALE) --snapshot-every-days $(SNAPSHOT_EVERY_DAYS)

# ruff for Python; sqlfluff (duckdb dialect, dbt templater; .sqlfluff) for the models; dbt-score for the
# project's conventions (pyproject.toml [tool.dbt-score]). dbt needs a lake and warehouse path to compile.
LINT_ENV := SIYU_LAKE_DIR=$(CURDIR)/data/lint/lake SIYU_WAREHOUSE=$(CURDIR)/data/lint/siyu.duckdb
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check plugins tests
	@mkdir -p data/lint
	$(LINT_ENV) $(VENV)/bin/sqlfluff lint dbt_project/models --processes 2
	cd dbt_project && $(LINT_ENV) ../$(VENV)/bin/dbt parse --profiles-dir . --quiet
	$(VENV)/bin/dbt-score lint --manifest dbt_project/target/manifest.json

clean:
	rm -rf data/demo data/bench
