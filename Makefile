# Lesion Lens: the two commands a newcomer needs are `make run` and `make test`.
# Both are idempotent: each step is skipped when its output already exists.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PORT   ?= 8050
PROD_PORT ?= 8443
DEMO_SPEC   := synthetic:200:0
DEMO_MODEL  := models/demo
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: run prod test install demo-model demo-import serve test-fast test-browser browser-deps nginx-deps clean-demo

$(STAMP): requirements.txt
	@echo "==> creating $(VENV) and installing pinned requirements (first time: a few minutes)"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --upgrade pip
	@$(PY) -m pip install --quiet -r requirements.txt
	@touch $(STAMP)
	@echo "==> requirements installed"

install: $(STAMP)

$(DEMO_MODEL)/bundle.json: | $(STAMP)
	@echo "==> no demo model yet: training one on the synthetic cohort $(DEMO_SPEC) (a few minutes, once)"
	@mkdir -p var/logs
	@$(PY) -m training train --dataset $(DEMO_SPEC) --out $(DEMO_MODEL) --config training/configs/demo.yaml --test-fraction 0.15 > var/logs/demo-model.json
	@echo "==> demo model written to $(DEMO_MODEL) (metrics: var/logs/demo-model.json)"

demo-model: $(DEMO_MODEL)/bundle.json

demo-import: demo-model
	@echo "==> importing the synthetic cohort with predictions into the case store"
	@$(PY) -m dashboard import $(DEMO_SPEC) --model demo

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

test: $(STAMP) browser-deps nginx-deps
	@echo "==> running the test suite (unit, integration, browser)"
	@$(PY) -m pytest -q -ra --durations=15

test-fast: $(STAMP)
	@$(PY) -m pytest -q -m "not slow and not browser"

test-browser: $(STAMP) browser-deps
	@$(PY) -m pytest -q -m browser

clean-demo:
	rm -rf $(DEMO_MODEL) var/cache/synthetic var/casestore*
