# The two commands of the README: `make run` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON      := .venv/bin/python
# Extra pytest arguments, e.g. make test PYTEST_ARGS='-k create -x'
PYTEST_ARGS ?=
# xdist: one worker per core, at most 2 (each worker starts its own services and Celery workers).
PYTEST_XDIST ?= -n auto --maxprocesses 2 --dist loadgroup

.PHONY: help bootstrap run test test-serial drills drill-cluster bench screenshots clean distclean

help:
	@echo "make run        install what is missing, migrate, seed demo data, start the whole stack"
	@echo "make test       install what is missing, run the whole test suite (PYTEST_ARGS=... to add)"
	@echo "make drills     run the full failure drills and print their table"
	@echo "make drill-cluster  the multi-host drill (14 hosts as network namespaces, 4 faults), as root"
	@echo "make bench      run the benchmarks in bench/"
	@echo "make screenshots  save a PNG of each operator console page to docs/screenshots/"
	@echo "make clean      remove var/ state and caches (make distclean also removes .venv)"

bootstrap:
	@bash scripts/bootstrap.sh

run: bootstrap
	@bash scripts/run.sh

test: bootstrap
	$(PYTHON) -m pytest $(PYTEST_XDIST) $(PYTEST_ARGS)

test-serial: bootstrap
	$(PYTHON) -m pytest $(PYTEST_ARGS)

# The failure drills alone (they also run within `make test`); each prints a row of the table.
drills: bootstrap
	DRILL_SCALE=full $(PYTHON) -m pytest $(PYTEST_XDIST) -m slow tests/drills $(PYTEST_ARGS)

# The multi-host drill's full form (its short form runs within `make test`): docs/multihost-drill.md.
drill-cluster: bootstrap
	$(PYTHON) scripts/drill_cluster.py run

bench: bootstrap
	$(PYTHON) bench/run_all.py

screenshots: bootstrap
	$(PYTHON) scripts/screenshots.py

clean:
	rm -rf var/* .pytest_cache build dist *.egg-info bench/*.tmp
	find . -path ./.venv -prune -o -type d -name __pycache__ -exec rm -rf {} +

distclean: clean
	rm -rf .venv
