# Pipewarden: every set-up step installs what it needs on first use (.venv, Kafka jars, PostgreSQL).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# uv installs the venv from uv.lock (exact versions and hashes); it is itself pinned and bootstrapped
# into .cache/ so that nothing is installed by hand.
UV_VERSION := 0.13.9
UV_HOME := .cache/uv-tool
UV := $(UV_HOME)/bin/uv
export UV_PYTHON_DOWNLOADS := never
VENV_STAMP := $(VENV)/.installed-$(shell cat pyproject.toml uv.lock | md5sum | cut -c1-12)

.PHONY: help venv lock lock-check proto proto-check lint test test-unit test-integration demo \
        kafka-jars kafka-up kafka-down topics pg-install pg-up pg-down \
        bench-ingest bench-detect bench-stream bench-workorders bench-meters loadtest-tools clean up status down logs token gateway-token rotate-keys test-tls

help:
	@echo "make demo    - start Kafka, the services and the console, stream a simulated city, show what happened"
	@echo "               (make demo DEMO_ARGS=--keep: leave it running and print the console URL and demo users)"
	@echo "make test    - run the whole test suite (starts its own Kafka broker and PostgreSQL)"
	@echo "make test-tls - bring up a TLS-on deployment (SASL_SSL Kafka, TLS gRPC) and smoke-test it (~3 min)"
	@echo "make lint    - ruff, import contracts (layering), mypy, and a check that uv.lock matches pyproject.toml"
	@echo "make lock    - refresh uv.lock (exact versions and hashes) after changing pyproject.toml"
	@echo "make proto   - regenerate services/contracts from protos/"
	@echo "make kafka-up / kafka-down, pg-up / pg-down - run the infrastructure by hand"
	@echo "make bench-ingest | bench-detect | bench-stream | bench-workorders | bench-meters - write reports/*.json"
	@echo "make up / status / down / logs [SERVICE=] / token ROLE= DISTRICTS= - the one-host deployment (DEPLOYMENT=file)"
	@echo "make gateway-token GATEWAY=gw | REVOKE=gw / rotate-keys [KEEP=1] - a gateway's token (printed once) / a new signing key"
	@echo "make loadtest [PROFILE=smoke|steady|ramp|soak] [SLO=file] [TARGET=host:port] - load-test a deployment"

$(UV):
	$(PYTHON) -m venv $(UV_HOME)
	@echo "installing uv $(UV_VERSION) (the pinned installer) into $(UV_HOME)"
	$(UV_HOME)/bin/pip install --progress-bar off uv==$(UV_VERSION)

# --locked: refuses to install when pyproject.toml changed without `make lock`.
$(VENV_STAMP): pyproject.toml uv.lock | $(UV)
	$(UV) sync --locked --extra dev --python $(PYTHON)
	rm -f $(VENV)/.installed-* && touch $@

venv: $(VENV_STAMP)

# Refresh uv.lock on purpose (after editing pyproject.toml, or to take new releases: `make lock LOCK_ARGS=--upgrade`).
lock: $(UV)
	$(UV) lock --python $(PYTHON) $(LOCK_ARGS)

lock-check: $(UV)
	$(UV) lock --check --python $(PYTHON)

proto: venv
	$(PY) tools/gen_protos.py

proto-check: venv
	$(PY) tools/gen_protos.py --check

lint: venv lock-check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy services tools deploy benchmarks load-tests/ingest.py load-tests/stream.py load-tests/loadtest

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

test: venv kafka-jars pg-install chromium
	$(PY) -m pytest

test-unit: venv
	$(PY) -m pytest -m "not integration and not slow"

test-integration: venv kafka-jars pg-install
	$(PY) -m pytest -m integration

# A second, TLS-on deployment (tls: true: local CA, SASL_SSL broker, TLS gRPC) and a smoke load test against it:
# about 3 minutes, so not part of `make test`.
test-tls: venv kafka-jars pg-install
	PIPEWARDEN_TEST_TLS_DEPLOYMENT=1 $(PY) -m pytest tests/deploy/test_tls_deployment.py \
		tests/integration/security/test_kafka_tls_options.py

demo: venv kafka-jars
	$(PY) -m deploy.demo $(DEMO_ARGS)

bench-ingest: venv kafka-jars
	$(PY) load-tests/ingest.py

bench-stream: venv kafka-jars
	$(PY) load-tests/stream.py

# Load test of a running deployment (load-tests/README.md): DEPLOYMENT= a deployment file, or TARGET=host:port
# (then LOADTEST_ARGS="--token-file FILE ..."); PROFILE= smoke | steady | ramp | soak; SLO= an SLO file.
PROFILE ?= smoke
# ghz (the independent gRPC cross-check) is built from the Go module proxy on first use before the run starts, so
# that a fresh clone's one-time tool build (~45 s) is not counted in the profile's time (smoke <= 60 s).
loadtest-tools: venv
	@PYTHONPATH=load-tests $(PY) -c "from loadtest.crosscheck import ensure_ghz; _, why = ensure_ghz(); print(why or '', end='')"

loadtest: venv kafka-jars loadtest-tools
	PYTHONPATH=load-tests $(PY) -m loadtest $(if $(TARGET),--target $(TARGET),--deployment $(DEPLOYMENT)) --profile $(PROFILE) $(if $(SLO),--slo $(SLO)) $(LOADTEST_ARGS)

bench-detect: venv
	$(PY) -m benchmarks.detection

bench-workorders: venv kafka-jars pg-install
	$(PY) -m benchmarks.workorders

bench-gateway: venv
	$(PY) -m benchmarks.gateway

# Redundant meters (the vote) and mid-line flow meters (sub-segment balances) on random layouts, issue #19:
# the tuning layouts and a held-out set; reports/detection_meters{,_heldout}.{json,png}.
bench-meters: venv
	$(PY) -m benchmarks.meter_suites --layouts 30
	$(PY) -m benchmarks.meter_suites --first 100 --layouts 30 --out reports/detection_meters_heldout.json

# Headless Chromium from the distribution's packages, for the console's browser tests (first use only).
chromium:
	deploy/browser/chromium.sh install

bench-console: venv kafka-jars chromium
	$(PY) -m benchmarks.console

# Every entry point fed garbage, mutated real inputs and hostile values (benchmarks/fuzz), FUZZ_CASES per entry point
# (every gRPC method counts as one), two entry points at a time, then 1,000 open Watch streams:
# reports/fuzz.{json,md,png}, ~1 h on 2 cores. FUZZ_MINUTES bounds each entry point (a safety bound: the report says
# which stopped short); a quick look: make fuzz FUZZ_CASES=2000.
FUZZ_CASES ?= 100000
FUZZ_MINUTES ?= 70
fuzz: venv kafka-jars
	$(PY) -m benchmarks.fuzz --cases $(FUZZ_CASES) --max-minutes $(FUZZ_MINUTES) --jobs 2 $(FUZZ_ARGS)

# The one-host deployment (deploy/local): every process under supervisord, settings in one file.
DEPLOYMENT ?= deploy/local/pipewarden.yaml
DEPLOY := $(PY) -m deploy.local --file $(DEPLOYMENT)

up: venv kafka-jars pg-install
	$(DEPLOY) up

status: venv
	$(DEPLOY) status

down: venv
	$(DEPLOY) down

logs: venv
	$(DEPLOY) logs $(if $(SERVICE),--service $(SERVICE))

token: venv
	@$(DEPLOY) token --role "$(ROLE)" --districts "$(DISTRICTS)"

# A gateway's token: GATEWAY=gw-x adds one and prints it once (only its hash is kept); REVOKE=gw-x|TOKEN_ID
# removes it (telemetry refuses it within a second, no restart).
gateway-token: venv
	@$(DEPLOY) gateway-token $(if $(REVOKE),--revoke "$(REVOKE)",--gateway "$(GATEWAY)")

# A new token signing key beside the old one (KEEP=1 later retires the old one).
rotate-keys: venv
	$(DEPLOY) rotate-keys $(if $(KEEP),--keep $(KEEP))

# tls: true: a new Kafka SCRAM password, on the running broker first, then in its 0600 file; clients restarted.
rotate-kafka-password: venv
	$(DEPLOY) rotate-kafka-password

clean:
	rm -rf $(VENV) .cache var .pytest_cache .mypy_cache .ruff_cache
