# Lesion Lens: the two commands a newcomer needs are `make run` and `make test`.
# Both are idempotent: each step is skipped when its output already exists.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# Two install stamps: the runtime (requirements.txt, for `make run`) and the test environment
# (requirements.txt + requirements-dev.txt, for `make test`). Each depends on the files it installs.
RUN_STAMP := $(VENV)/.installed-run
STAMP     := $(VENV)/.installed
PIP_INSTALL := $(PY) -m pip install --quiet --require-hashes
LOCK := $(VENV)/bin/uv pip compile --quiet --universal --generate-hashes --python-version 3.11
PORT   ?= 8050
PROD_PORT ?= 8443
DEMO_SPEC   := synthetic:200:0
DEMO_MODEL  := models/demo
# The model `make run` serves: trained on real breast ultrasound (BUS-BRA) by the documented `train`,
# versioned in shipped/ and copied into models/ (tools/install_shipped_model.py says why).
SHIPPED_NAME := busbra
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: run prod test install install-dev lint lock demo-model shipped-model demo-import serve test-fast test-browser browser-deps nginx-deps clean-demo

$(PY):
	@$(PYTHON) -c 'import sys; v = sys.version_info[:2]; sys.exit(0 if v == (3, 11) else "Lesion Lens needs Python 3.11 (pyproject.toml); $(PYTHON) is %d.%d: make PYTHON=python3.11 ..." % v)'
	@echo "==> creating $(VENV)"
	@$(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --upgrade pip

$(RUN_STAMP): requirements.txt tools/slim_env.py | $(PY)
	@echo "==> installing the pinned runtime requirements (first time: a few minutes)"
	@$(PIP_INSTALL) -r requirements.txt
	@$(PY) tools/slim_env.py
	@touch $@

$(STAMP): requirements.txt requirements-dev.txt tools/slim_env.py | $(PY)
	@echo "==> installing the pinned runtime and test requirements (first time: a few minutes)"
	@$(PIP_INSTALL) -r requirements.txt -r requirements-dev.txt
	@$(PY) tools/slim_env.py
	@touch $(RUN_STAMP) $@

install: $(RUN_STAMP)

install-dev: $(STAMP)

# Re-pin after editing requirements.in / requirements-dev.in (existing pins are kept unless the .in asks otherwise).
lock: $(STAMP)
	$(LOCK) -o requirements.txt requirements.in
	$(LOCK) -o requirements-dev.txt requirements-dev.in

# Fast checks, run first by `make test`: the rule sets are in pyproject.toml; ruff format checks only
# the files listed in tools/formatted-files.txt (add a file once it is formatted).
lint: $(STAMP)
	@echo "==> ruff check, ruff format --check, mypy"
	@$(VENV)/bin/ruff check --quiet .
	@$(VENV)/bin/ruff format --check --quiet $(wildcard $(shell cat tools/formatted-files.txt))
	@$(VENV)/bin/mypy

$(DEMO_MODEL)/bundle.json: | $(RUN_STAMP)
	@echo "==> no demo model yet: training one on the synthetic cohort $(DEMO_SPEC) (a few minutes, once)"
	@mkdir -p var/logs
	@$(PY) -m training train --dataset $(DEMO_SPEC) --out $(DEMO_MODEL) --config training/configs/demo.yaml --test-fraction 0.15 > var/logs/demo-model.json
	@echo "==> demo model written to $(DEMO_MODEL) (metrics: var/logs/demo-model.json)"

# The synthetic-cohort model: for tests and `make demo-model`; `make run` no longer needs it.
demo-model: $(DEMO_MODEL)/bundle.json

shipped-model: | $(RUN_STAMP)
	@$(PY) tools/install_shipped_model.py --name $(SHIPPED_NAME)

demo-import: shipped-model
	@echo "==> importing the synthetic demo cohort, predicted by the shipped model $(SHIPPED_NAME) (about a minute, once)"
	@$(PY) -m dashboard import $(DEMO_SPEC) --model $(SHIPPED_NAME)

serve: demo-import
	@echo "==> preparing the store (schema, active model) and the first admin account"
	@$(PY) -m dashboard ensure-admin
	@echo "==> serving on http://127.0.0.1:$(PORT) (Ctrl-C stops; sign in at http://127.0.0.1:$(PORT)/login)"
	@PORT=$(PORT) $(VENV)/bin/gunicorn dashboard.app:server --bind 127.0.0.1:$(PORT) \
		--workers $${WEB_CONCURRENCY:-2} --threads $${THREADS:-4} --timeout 120

run: serve

# Production entry point: nginx (TLS, header/body timeouts, size limits, buffering) in front of gunicorn on a
# unix socket; a self-signed certificate under var/tls unless CERT=... KEY=... are given (deploy/prod.py).
prod: demo-import nginx-deps
	@$(PY) -m dashboard ensure-admin
	@$(PY) deploy/prod.py --port $(PROD_PORT) $(if $(CERT),--cert $(CERT) --key $(KEY))

nginx-deps:
	@if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "==> installing Debian nginx (make prod, tests/integration/test_prod_proxy.py)"; \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null || true; \
		else echo "==> nginx missing: make prod needs it (apt-get install nginx); its test will be skipped"; fi; \
	fi

browser-deps:
	@if [ ! -x /usr/bin/chromium ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "==> installing Debian chromium + chromium-driver for browser tests"; \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null || true; \
		else echo "==> /usr/bin/chromium missing: browser tests will be skipped"; fi; \
	fi

test: $(STAMP) lint browser-deps nginx-deps
	@echo "==> running the test suite (unit, integration, browser)"
	@$(PY) -m pytest -q -ra --durations=15

test-fast: $(STAMP)
	@$(PY) -m pytest -q -m "not slow and not browser"

test-browser: $(STAMP) browser-deps
	@$(PY) -m pytest -q -m browser

clean-demo:
	rm -rf $(DEMO_MODEL) var/cache/synthetic var/casestore*
