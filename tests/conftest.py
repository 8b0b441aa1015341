"""Test fixtures: an embedded moto server per test process, a fresh AWS world per test.

Integration tests talk to moto over HTTP exactly as `make run` does (so Cognito's JWKS is fetched
for real), through the Chalice test client. Unit tests need none of this.
"""
from __future__ import annotations

import logging
import os
import sys

import pytest

PROJECT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, PROJECT_DIR)

REGION = "sa-east-1"

# moto's embedded server logs every request; the tests' failures are easier to read without.
logging.getLogger("werkzeug").setLevel(logging.WARNING)


class ScanForbidden(AssertionError):
    pass


@pytest.fixture(scope="session", autouse=True)
def forbid_dynamodb_scan():
    """Every DynamoDB access goes by key (storage docstring): a Scan anywhere fails the test."""
    from botocore.client import BaseClient

    original = BaseClient._make_api_call

    def guarded(self, operation_name, api_params):
        if operation_name == "Scan" and self.meta.service_model.service_name == "dynamodb":
            raise ScanForbidden(f"DynamoDB Scan issued on {api_params.get('TableName')}: access by key only")
        return original(self, operation_name, api_params)

    # PynamoDB calls through botocore's client too, so this one hook sees every request.
    BaseClient._make_api_call = guarded
    yield
    BaseClient._make_api_call = original


@pytest.fixture(scope="session", autouse=True)
def serializable_moto_writes():
    """DynamoDB's atomic writes and transactions, restored on moto when threads share it (the
    concurrency tests exercise our optimistic locking, not moto's dictionaries)."""
    from local.moto_fixes import restore, serialize_dynamodb

    serialize_dynamodb()
    yield
    restore()


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory):
    """One embedded moto server for this test process (each xdist worker has its own)."""
    from local.run import free_port, start_embedded_aws

    port = free_port()
    server = start_embedded_aws(port, REGION)
    os.environ["MAIL_COPY_DIR"] = str(tmp_path_factory.mktemp("outbox"))
    os.environ["PORTAL_URL"] = "http://portal.test"
    # Provider retries come back at once instead of after a backoff: tests drain queues in a loop.
    os.environ["PROVISIONING_BACKOFF_SECONDS"] = "0"
    # SES's pace (14 emails/s by default, one at a time) is not what these tests are about, as on the
    # local stack: the pace is tested with its own pacers (test_send_rate, test_email_batch).
    os.environ["SES_MAX_SEND_RATE"] = "1000000"
    yield os.environ["AWS_ENDPOINT_URL"]
    server.stop()


@pytest.fixture
def deps(moto_endpoint, tmp_path):
    """A fresh AWS world (empty table, queues, pool) and the container bound to it."""
    import requests

    from chalicelib import bootstrap, settings
    from local import aws_resources

    requests.post(f"{moto_endpoint}/moto-api/reset", timeout=10).raise_for_status()
    os.environ["MAIL_COPY_DIR"] = str(tmp_path / "outbox")
    os.environ.update(aws_resources.create_all(settings.from_environ(os.environ), moto_endpoint))
    bootstrap.reset()
    container = bootstrap.container()
    yield container
    bootstrap.reset()


@pytest.fixture
def app():
    from app import app as chalice_app

    return chalice_app


@pytest.fixture
def client(deps, app):
    from chalice.test import Client

    with Client(app) as test_client:
        yield test_client


@pytest.fixture
def world(deps, client, app):
    from tests.support import World

    return World(deps, client, app)
