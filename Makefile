# Two commands do everything: `make run` and `make test`.
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTHON ?= python3

.PHONY: install web-assets web-manifest screenshot run test lint format schema schema-check clean \
	bench bench-history-page bench-fanout bench-crossprocess bench-writes bench-scale bench-cost bench-image-decode \
	bench-sla bench-read-state bench-presence bench-balancer bench-scaleout bench-capacity

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) web-assets

# The browser files GraphiQL and the dashboard load, pinned by web/package-lock.json and
# web/vendor.json. Without npm the pages say how to install them; the API works either way.
web-assets:
	@if [ web/node_modules/.package-lock.json -nt web/package-lock.json ]; then :; \
	elif command -v npm >/dev/null 2>&1; then \
	  cd web && npm ci --omit=dev --no-audit --no-fund --loglevel=error; \
	else echo "npm not found: GraphiQL and /dashboard need 'cd web && npm ci --omit=dev'"; fi

# After changing web/package.json (and `npm install` in web/): pin the served files again.
web-manifest: install
	$(BIN)/python -m server.webui web

# docs/dashboard.png: the dashboard with demo data, rendered in headless Chromium.
screenshot: install
	cd tests/js && npm ci --no-audit --no-fund --loglevel=error
	node tests/js/screenshot.mjs docs/dashboard.png

run: install
	$(BIN)/helpdesk migrate
	$(BIN)/helpdesk serve

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint
	$(BIN)/pytest

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

schema: install
	$(BIN)/helpdesk export-schema --output schema.graphql

schema-check: install
	$(BIN)/helpdesk schema-check

# Benchmarks print tables (figures measured side by side in one run); they are not tests.
# They need the machine's PostgreSQL and Redis, and wrk (installed with apt-get when missing).
bench: bench-history-page bench-fanout bench-crossprocess bench-writes bench-balancer bench-scaleout

bench-history-page: install
	$(BIN)/python -m bench.history_page

bench-fanout: install
	$(BIN)/python -m bench.fanout

bench-crossprocess: install
	$(BIN)/python -m bench.crossprocess

# Throughput with wrk, then 200 replies/s paced, beside the revision before batched delivery.
bench-writes: install
	$(BIN)/python -m bench.writes
	$(BIN)/python -m bench.writes --rate 200 --before ab4ce11

# 4,000 subscribers through HAProxy (deploy/haproxy.cfg) over 4 processes, one killed mid-run.
bench-balancer: install
	$(BIN)/python -m bench.balancer

# N = 1, 2, 4, 8 server processes on one database and Redis: statements and messages per event.
bench-scaleout: install
	$(BIN)/python -m bench.scaleout

# Per-process figures measured here, and the processes, Redis and PostgreSQL they imply.
bench-capacity: install
	$(BIN)/python -m bench.capacity

bench-cost: install
	$(BIN)/python -m bench.cost

bench-image-decode: install
	$(BIN)/python -m bench.image_decode

bench-scale: install
	$(BIN)/python -m bench.history --sizes 10000,1000000

# The SLA breach scheduler over 1M tickets: one scan's time and the plan of its claim.
bench-sla: install
	$(BIN)/python -m bench.sla --tickets 1000000

# The history page with the viewer's unreadCount and lastReadAt next to without, in one run.
bench-read-state: install
	$(BIN)/python -m bench.read_state

# Presence at 1,000 viewers on 100 tickets: server memory and Redis traffic, memory vs Redis.
bench-presence: install
	$(BIN)/python -m bench.presence --viewers 1000 --tickets 100

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache web/node_modules
