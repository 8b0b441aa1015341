"""The Chalice app: creates `app` and registers the blueprints and event handlers. Nothing else."""
from chalice import Chalice

from chalicelib.api import audit, auth_routes, contract, openapi, support, users
from chalicelib.jobs import email

app = Chalice(app_name="csp-portal")

for blueprint in (auth_routes.bp, users.bp, contract.bp, audit.bp, support.bp, openapi.bp):
    app.register_blueprint(blueprint)

app.register_blueprint(email.bp)
