"""The Chalice app: creates `app` and registers the blueprints and event handlers. Nothing else."""
from chalicelib.api import (audit, auth_routes, bank_returns, bank_webhooks, catalog, contract, dunning, invoices,
                            mfa_routes, onboarding, openapi, portal, privacy, receivables, subscriptions, support,
                            tickets, users)
from chalicelib.api.http import PortalChalice
from chalicelib.jobs import billing, email, licences
from chalicelib.jobs import mail_events as mail_event_jobs
from chalicelib.jobs import privacy as privacy_jobs
from chalicelib.jobs import watch
from chalicelib.api import webhooks as webhook_routes  # webhooks (issue #21 §3)
from chalicelib.jobs import webhooks as webhook_jobs
from chalicelib.observability import instrument

# Chalice, with the request being answered kept per thread (the local server and the tests answer
# several at once).
app = PortalChalice(app_name="csp-portal")
# Bank return files arrive as text/plain in Latin-1: as a binary type, API Gateway hands their bytes
# through (base64) instead of re-reading them as UTF-8, which would break every accented line.
app.api.binary_types.append("text/plain")

for blueprint in (auth_routes.bp, mfa_routes.bp, users.bp, contract.bp, catalog.bp, subscriptions.bp, invoices.bp,
                  tickets.bp, onboarding.bp, audit.bp, support.bp, privacy.bp, receivables.bp, bank_returns.bp,
                  bank_webhooks.bp, dunning.bp, openapi.bp, portal.bp):
    app.register_blueprint(blueprint)

app.register_blueprint(email.bp)
app.register_blueprint(licences.bp)
app.register_blueprint(billing.bp)
app.register_blueprint(privacy_jobs.bp)
app.register_blueprint(watch.bp)
app.register_blueprint(mail_event_jobs.bp)
app.register_blueprint(webhook_routes.bp)  # webhooks (issue #21 §3)
app.register_blueprint(webhook_jobs.bp)

# Every entry point: a correlation id, JSON logs, a trace, metrics flushed (chalicelib/observability.py).
instrument(app)
