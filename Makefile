# The two commands a newcomer needs: `make run` and `make test`. Both bootstrap .venv themselves.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run run-clean test test-fast bench package clean

$(STAMP): requirements.txt requirements-dev.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

## run: the whole product on this machine (embedded moto AWS + demo data + API on :8000, the app's
## schedules on its clock); keeps its data in var/local-state.pickle across restarts.
## DEMO_DATE=2026-12-21 starts the clock on that day, DEMO_SPEED=3600 runs it an hour per second.
run: $(STAMP)
	$(BIN)/python -m local.run

## run-clean: forget the local data (the saved state, the emails, the demo logins), then run afresh
run-clean: $(STAMP)
	rm -rf var/local-state.pickle var/outbox var/demo-accounts.json
	$(BIN)/python -m local.run

## test: every test (unit, integration on an embedded moto server, packaging)
test: $(STAMP)
	$(BIN)/ruff check chalicelib local tests bench app.py
	$(BIN)/python -m pytest -n auto --dist loadgroup -q

## test-fast: unit tests only
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit

## bench: benchmarks with ratios measured in the same run (var/bench/*.json); BENCH_CONTRACTS=10000 for the full run
bench: $(STAMP)
	$(BIN)/python -m bench.run

## package: the CloudFormation/SAM template and Lambda zip under build/
package: $(STAMP)
	AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-sa-east-1} $(BIN)/chalice package --stage prod \
	  --merge-template infra/resources.json build/
	$(BIN)/python infra/slim_package.py build/deployment.zip

clean:
	rm -rf $(VENV) var build .pytest_cache
