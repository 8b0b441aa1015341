"""`make run`: the whole product on this machine.

Starts an embedded moto server (all AWS services) on loopback, creates the table, bucket, queues,
user pool and SES identity, seeds demo data, starts the event pump, and serves the API with
Chalice's local server on http://127.0.0.1:8000. Ctrl-C stops everything.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import socket
import sys

PROJECT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Where demo logins and emails land; tests point it elsewhere.
VAR_DIR = os.environ.get("CSP_VAR_DIR") or os.path.join(PROJECT_DIR, "var")


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_embedded_aws(moto_port: int, region: str = "sa-east-1"):
    """Start moto on loopback and point boto3 and PynamoDB at it (through AWS_ENDPOINT_URL)."""
    from moto.server import ThreadedMotoServer

    from local.moto_fixes import serialize_dynamodb, strong_totp_secret

    serialize_dynamodb()  # the API's threads and the event pump share this moto
    strong_totp_secret()
    os.environ.update({
        "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{moto_port}",
        # The local Cognito checks TOTP codes (against ONE secret for every user: moto_fixes, README).
        "MOTO_COGNITO_IDP_USER_POOL_ENABLE_TOTP": "true",
    })
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=moto_port, verbose=False)
    server.start()
    return server


def provision_and_seed(endpoint_url: str):
    """Create the AWS resources, bind the app to them, seed demo data. Returns (deps, accounts)."""
    from chalicelib import bootstrap, settings
    from local import aws_resources, seed

    os.environ.update(aws_resources.create_all(settings.from_environ(os.environ), endpoint_url))
    bootstrap.reset()
    deps = bootstrap.container()
    return deps, seed.seed(deps)


def write_demo_accounts(api_url: str, accounts) -> str:
    os.makedirs(VAR_DIR, exist_ok=True)
    path = os.path.join(VAR_DIR, "demo-accounts.json")
    with open(path, "w", encoding="utf-8") as fh:
        json.dump({"api": api_url, "accounts": [
            {"email": a.email, "password": a.password, "name": a.name, "roles": a.roles,
             "organization_id": a.organization_id, "mfa_secret": a.mfa_secret} for a in accounts]}, fh, ensure_ascii=False, indent=2)
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Run csp-portal locally on an embedded AWS (moto).")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--moto-port", type=int, default=int(os.environ.get("MOTO_PORT", "0")))
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for noisy in ("werkzeug", "botocore", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if not _port_free(args.port):
        print(f"Port {args.port} is in use: stop what runs there or use PORT=8001 make run", file=sys.stderr)
        return 2
    moto_port = args.moto_port or free_port()
    api_url = f"http://127.0.0.1:{args.port}"
    os.environ.setdefault("MAIL_COPY_DIR", os.path.join(VAR_DIR, "outbox"))
    os.environ.setdefault("PORTAL_URL", api_url)
    # LGPD: the privacy page's controller and DPO (demo values; the real ones come from the stage).
    os.environ.setdefault("PRIVACY_CONTROLLER_NAME", "Brasoftware Informática Ltda (demonstração)")
    os.environ.setdefault("PRIVACY_DPO_NAME", "Encarregada de Dados (demonstração)")
    os.environ.setdefault("PRIVACY_DPO_EMAIL", "privacidade@brasoftware.com.br")
    sys.path.insert(0, PROJECT_DIR)

    moto = start_embedded_aws(moto_port)
    from local.moto_fixes import LOCAL_TOTP_SECRET

    pump = server = None
    try:
        _, accounts = provision_and_seed(os.environ["AWS_ENDPOINT_URL"])
        accounts_file = write_demo_accounts(api_url, accounts)

        from chalice.cli.factory import CLIFactory

        from local.event_pump import EventPump

        factory = CLIFactory(project_dir=PROJECT_DIR, environ=os.environ)
        config = factory.create_config_obj(chalice_stage_name="dev")
        app = config.chalice_app
        server = factory.create_local_server(app, config, "127.0.0.1", args.port)
        pump = EventPump(app, os.environ["AWS_REGION"])
        pump.start()

        print("\ncsp-portal is running (embedded AWS on %s)" % os.environ["AWS_ENDPOINT_URL"])
        print(f"  API:          {api_url}   (OpenAPI: {api_url}/openapi.json)")
        print(f"  Emails:       {os.environ['MAIL_COPY_DIR']}/*.eml")
        print(f"  Demo logins:  {accounts_file}")
        for account in accounts:
            print(f"    {account.email:<32} {account.password}   {', '.join(account.roles)}")
        print("  MFA code (operator, Masters): "
              f"python -c \"import pyotp; print(pyotp.TOTP('{LOCAL_TOTP_SECRET}').now())\"")
        print("Ctrl-C stops everything.\n", flush=True)
        server.serve_forever()
    except KeyboardInterrupt:
        print("\nStopping…")
    finally:
        if pump is not None:
            pump.stop()
        if server is not None:
            server.server.server_close()
        moto.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
