# Pipewarden: every set-up step installs what it needs on first use (.venv, Kafka jars, PostgreSQL).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
VENV_STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | md5sum | cut -c1-12)

.PHONY: help venv proto proto-check lint test test-unit test-integration demo \
        kafka-jars kafka-up kafka-down topics pg-install pg-up pg-down \
        bench-ingest bench-detect bench-stream bench-workorders clean

help:
	@echo "make demo    - start Kafka and the services, stream a simulated city, show what happened"
	@echo "make test    - run the whole test suite (starts its own Kafka broker and PostgreSQL)"
	@echo "make lint    - ruff and mypy"
	@echo "make proto   - regenerate services/contracts from protos/"
	@echo "make kafka-up / kafka-down, pg-up / pg-down - run the infrastructure by hand"
	@echo "make bench-ingest | bench-detect | bench-stream | bench-workorders - write reports/*.json"

$(VENV_STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

venv: $(VENV_STAMP)

proto: venv
	$(PY) tools/gen_protos.py

proto-check: venv
	$(PY) tools/gen_protos.py --check

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy services tools deploy benchmarks load-tests/ingest.py load-tests/stream.py

kafka-jars:
	deploy/kafka/kafka.sh fetch

kafka-up: kafka-jars
	deploy/kafka/kafka.sh up

kafka-down:
	deploy/kafka/kafka.sh down

topics: venv
	$(PY) -m services.topics.admin

pg-install:
	deploy/postgres/postgres.sh install

pg-up: pg-install
	deploy/postgres/postgres.sh up

pg-down:
	deploy/postgres/postgres.sh down

test: venv kafka-jars pg-install
	$(PY) -m pytest

test-unit: venv
	$(PY) -m pytest -m "not integration and not slow"

test-integration: venv kafka-jars pg-install
	$(PY) -m pytest -m integration

demo: venv kafka-jars
	$(PY) -m deploy.demo $(DEMO_ARGS)

bench-ingest: venv kafka-jars
	$(PY) load-tests/ingest.py

bench-stream: venv kafka-jars
	$(PY) load-tests/stream.py

bench-detect: venv
	$(PY) -m benchmarks.detection

bench-workorders: venv kafka-jars pg-install
	$(PY) -m benchmarks.workorders

clean:
	rm -rf $(VENV) .cache var .pytest_cache .mypy_cache .ruff_cache
