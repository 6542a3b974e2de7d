# devtrack — run `make help` for the list of targets.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# pip-compile runs in its own small venv, so `make lock` works even when the locks are stale,
# conflicted or name a package that does not resolve yet.
LOCK_VENV ?= .venv-lock
PIP_TOOLS := pip-tools==7.6.2
# --no-emit-*: the lock must not carry this machine's package sources; --allow-unsafe: pip and
# setuptools are locked too, so a --require-hashes install does not trip over them.
LOCK_FLAGS := --quiet --generate-hashes --allow-unsafe --strip-extras \
	--no-emit-find-links --no-emit-index-url --no-emit-trusted-host
CHROMIUM := /usr/bin/chromium
COMPOSE_V1 := /usr/bin/docker-compose

.DEFAULT_GOAL := help
.PHONY: help run test lint typecheck bench migration lock clean fuzz mutation

help: ## Show this help
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

# The venv installs exactly the locked tree, every file checked against its hash.
$(STAMP): requirements.lock requirements-dev.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q --require-hashes -r requirements-dev.lock
	touch $(STAMP)

lock: ## Re-lock requirements*.txt into requirements*.lock (full tree, hashes)
	@for f in requirements.lock requirements-dev.lock; do \
		if grep -qs '^<<<<<<<' $$f; then echo "$$f has merge conflict markers: re-resolving it"; rm $$f; fi; \
	done
	test -x $(LOCK_VENV)/bin/pip-compile || \
		($(PYTHON) -m venv $(LOCK_VENV) && $(LOCK_VENV)/bin/pip install -q "$(PIP_TOOLS)")
	$(LOCK_VENV)/bin/pip-compile $(LOCK_FLAGS) -o requirements.lock requirements.txt
	$(LOCK_VENV)/bin/pip-compile $(LOCK_FLAGS) -c requirements.lock \
		-o requirements-dev.lock requirements-dev.txt

run: $(STAMP) ## Start the bot; with no BOT_TOKEN (env or .env) the local playground instead
	@if $(BIN)/python -m playground.token_check; then $(BIN)/python bot.py; \
	else echo "No BOT_TOKEN: starting the playground (see README, Quick start)"; \
	$(BIN)/python -m playground; fi

# Tests keep their scratch files (and so their SQLite databases) in RAM where the machine has a
# writable tmpfs: every commit to a database file waits for the disk, which made the
# database-heavy tests several times slower on a busy VM (tests/test_polish.py: 8.8 s in /tmp,
# 2.4 s in /dev/shm). TEST_TMPDIR= (empty) keeps the system's temporary directory.
TEST_TMPDIR ?= $(shell test -d /dev/shm -a -w /dev/shm && echo /dev/shm)
TMPENV := $(if $(TEST_TMPDIR),TMPDIR=$(TEST_TMPDIR))

test: $(STAMP) $(CHROMIUM) $(COMPOSE_V1) ## Run the whole test suite (PostgreSQL cases need TEST_DATABASE_URL)
	$(TMPENV) $(BIN)/python -m pytest -q $(PYTEST_ARGS)

# The browser test drives Debian's Chromium; as root we install it, otherwise the test says how.
$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
	else echo "$(CHROMIUM) is missing and this is not root: the browser test will be skipped" \
	  "(sudo apt-get install chromium)"; fi

# The compose tests run `config` (client-side, no Docker engine) with `docker compose` or, without
# that plugin, Debian's docker-compose (v1); as root we install the latter without the engine.
$(COMPOSE_V1):
	@if docker compose version >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -q --no-install-recommends docker-compose; \
	else echo "no docker compose and this is not root: the compose client tests will be" \
	  "skipped (sudo apt-get install docker-compose)"; fi

fuzz: $(STAMP) ## Long random fuzzing (texts, buttons, files, sessions); FUZZ_EXAMPLES=2000
	$(TMPENV) HYPOTHESIS_PROFILE=fuzz $(BIN)/python -m pytest -q --timeout=0 tests/test_fuzz.py $(PYTEST_ARGS)

$(VENV)/.mutmut: $(STAMP) requirements-mutation.txt
	$(BIN)/pip install --disable-pip-version-check -q -r requirements-mutation.txt
	touch $@

# devtrack's own database is SQLite here (TEST_DATABASE_URL is unset, so the `postgres` cases are
# skipped and the run does not double). Only the switch-over import's predecessor database needs
# PostgreSQL: each test process takes its own `<database>_legacy_<n>` next to
# MUTATION_DATABASE_URL (tests/legacy_db.py), so parallel mutants never share one. Set it empty
# to leave the import untested (its mutants then count as survivors).
MUTATION_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/test
mutation: $(VENV)/.mutmut ## Mutation testing of inventory/ and jobs/reminders.py: score per module, survivors
	rm -rf mutants
	set -f; env -u TEST_DATABASE_URL MUTATION_DATABASE_URL='$(MUTATION_DATABASE_URL)' $(TMPENV) \
		$(BIN)/mutmut run --max-children $(or $(JOBS),2) $(MUTATE)
	$(BIN)/python tools/mutation_report.py --doc docs/mutation.md $(REPORT_ARGS)

lint: $(STAMP) ## Check the code with ruff and mypy
	$(BIN)/ruff check .
	$(BIN)/mypy

# mypy reads mypy.ini (the application code; tests and bench/ are not checked).
typecheck: $(STAMP) ## Type-check the application code with mypy (mypy.ini)
	$(BIN)/mypy

bench: $(STAMP) ## Measure handler and job timings (SQLite, and PostgreSQL if TEST_DATABASE_URL)
	$(BIN)/python -m bench $(BENCH_ARGS)

migration: $(STAMP) ## Create a migration from model changes: make migration NAME=add_x
	@test -n "$(NAME)" || (echo "usage: make migration NAME=short_name" && exit 2)
	$(BIN)/python -c "import sys; from models import init_db; from schema import create_migration, apply_migrations; d = init_db('sqlite:///:memory:'); apply_migrations(d); print(create_migration(d, sys.argv[1]) or 'no changes')" "$(NAME)"

clean: ## Remove the virtualenv and caches
	rm -rf $(VENV) $(LOCK_VENV) .pytest_cache .ruff_cache
