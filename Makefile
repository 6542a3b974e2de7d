# devtrack — run `make help` for the list of targets.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help run test lint bench migration clean fuzz mutation

help: ## Show this help
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q -r requirements-dev.txt
	touch $(STAMP)

run: $(STAMP) ## Start the bot (SQLite in data/ unless DATABASE_URL says otherwise)
	$(BIN)/python bot.py

test: $(STAMP) ## Run the whole test suite (PostgreSQL cases need TEST_DATABASE_URL)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

fuzz: $(STAMP) ## Long random fuzzing (texts, buttons, files, sessions); FUZZ_EXAMPLES=2000
	HYPOTHESIS_PROFILE=fuzz $(BIN)/python -m pytest -q --timeout=0 tests/test_fuzz.py $(PYTEST_ARGS)

$(VENV)/.mutmut: $(STAMP) requirements-mutation.txt
	$(BIN)/pip install --disable-pip-version-check -q -r requirements-mutation.txt
	touch $@

# PostgreSQL stays out: the parallel mutant runs would share (and truncate) one database.
mutation: $(VENV)/.mutmut ## Mutation testing of inventory/ and jobs/reminders.py: score per module, survivors
	rm -rf mutants
	set -f; env -u TEST_DATABASE_URL $(BIN)/mutmut run --max-children $(or $(JOBS),2) $(MUTATE)
	$(BIN)/python tools/mutation_report.py $(REPORT_ARGS)

lint: $(STAMP) ## Check the code with ruff
	$(BIN)/ruff check .

bench: $(STAMP) ## Measure handler and job timings (SQLite, and PostgreSQL if TEST_DATABASE_URL)
	$(BIN)/python -m bench $(BENCH_ARGS)

migration: $(STAMP) ## Create a migration from model changes: make migration NAME=add_x
	@test -n "$(NAME)" || (echo "usage: make migration NAME=short_name" && exit 2)
	$(BIN)/python -c "import sys; from models import init_db; from schema import create_migration, apply_migrations; d = init_db('sqlite:///:memory:'); apply_migrations(d); print(create_migration(d, sys.argv[1]) or 'no changes')" "$(NAME)"

clean: ## Remove the virtualenv and caches
	rm -rf $(VENV) .pytest_cache .ruff_cache
