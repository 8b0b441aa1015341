# The two commands a newcomer needs: `make run` and `make test`. Both bootstrap .venv themselves.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run run-clean test test-fast bench package deploy deploy-args smoke redrive clean

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

## deploy: make package, then the stack csp-portal-$(STAGE) through a CloudFormation change set (infra/deploy.py):
## make deploy STAGE=prod ALARM_EMAIL=ops@… SENDER='Brasoftware Cloud <nao-responda@…>' [DOMAIN=… CERTIFICATE_ARN=…]
## [PARAMS="NfseProvider=sefin …"] [ARTIFACTS_BUCKET=…] [STACK=…]; CONFIRM=no prints the changes and stops
deploy: deploy-args package
	AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-sa-east-1} $(BIN)/python infra/deploy.py --stage "$(STAGE)" \
	  --stack "$(STACK)" --bucket "$(ARTIFACTS_BUCKET)" --domain "$(DOMAIN)" --certificate-arn "$(CERTIFICATE_ARN)" \
	  --sender "$(SENDER)" --alarm-email "$(ALARM_EMAIL)" --params "$(PARAMS)" --confirm "$(CONFIRM)"

# Refused before the minute `make package` takes, not after.
deploy-args:
	@test -n "$(STAGE)" || { echo "STAGE is required: make deploy STAGE=prod"; exit 2; }
	@test "$(STAGE)" = prod || { echo "STAGE=$(STAGE): only STAGE=prod can be deployed (one stage per AWS account)"; exit 2; }

## smoke: read-only checks of a running stage (infra/smoke.py): make smoke URL=https://… (or URL=http://127.0.0.1:8000)
smoke: $(STAMP)
	@test -n "$(URL)" || { echo "URL is required: make smoke URL=http://127.0.0.1:8000"; exit 2; }
	$(BIN)/python infra/smoke.py "$(URL)"

## redrive: move a dead-letter queue's messages back to their queue after a fix (infra/redrive.py):
## make redrive QUEUE=email (or provisioning, billing, a queue's name or URL) [MAX=100]
redrive: $(STAMP)
	@test -n "$(QUEUE)" || { echo "QUEUE is required: make redrive QUEUE=email"; exit 2; }
	AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-sa-east-1} $(BIN)/python infra/redrive.py "$(QUEUE)" $(if $(MAX),--max $(MAX))

clean:
	rm -rf $(VENV) var build .pytest_cache
