# The two commands a newcomer needs: `make run` and `make test`. Both bootstrap .venv themselves.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-fast bench package clean

$(STAMP): requirements.txt requirements-dev.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

## run: the whole product on this machine (embedded moto AWS + demo data + API on :8000)
run: $(STAMP)
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
