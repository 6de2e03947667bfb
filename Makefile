# Herald: the README's commands. `make help` lists them.
SHELL := /bin/bash
# uv runs everything from the project's own virtual environment; installed with pip if missing.
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")

.DEFAULT_GOAL := help
.PHONY: help setup run test lint bench clean

help: ## list the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

setup: ## install uv if missing, then the locked dependencies into .venv
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	@$(UV) sync --frozen --quiet

run: setup ## run the whole stack on embedded defaults (broker, worker, API, capture SMTP)
	$(UV) run herald up

lint: setup ## ruff, mypy and the import contracts
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	$(UV) run mypy
	$(UV) run lint-imports

test: lint ## lint, then the whole suite (real Kafka broker, SMTP, SQLite, PostgreSQL)
	$(UV) run pytest

bench: setup ## measure ingest and end-to-end throughput on the embedded stack
	$(UV) run python -m bench

clean: ## remove local data (.herald) and caches
	rm -rf .herald .pytest_cache .mypy_cache .ruff_cache
