"""`make run`: the whole product on this machine.

Starts an embedded moto server (all AWS services) on loopback; loads the data the last run saved
under var/ (local/persistence.py), or else creates the table, bucket, queues, user pool and SES
identity and seeds demo data; starts the event pump (SQS) and the scheduler (the app's schedules,
local/scheduler.py) on the product's clock (the system clock, or the demo clock of DEMO_DATE /
DEMO_SPEED, local/demo_clock.py); and serves the API with Chalice's local server on
http://127.0.0.1:8000. Ctrl-C (or SIGTERM) stops everything and saves the data.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import sys
import time
from dataclasses import asdict
from datetime import datetime
from typing import Callable, Optional

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


# How often `make run` saves its data besides on stop: a kill loses at most this much.
SAVE_SECONDS = float(os.environ.get("LOCAL_SAVE_SECONDS", "30"))


def start_embedded_aws(moto_port: int, region: str = "sa-east-1", gate=None, before_start: Optional[Callable] = None):
    """Start moto on loopback and point boto3 and PynamoDB at it (through AWS_ENDPOINT_URL). With a
    `gate` (local.persistence.Gate), every request passes it, so the state can be saved whole;
    `before_start` runs once moto is patched and before it answers anyone (loading saved state)."""
    from moto.server import ThreadedMotoServer

    from local.moto_fixes import serialize_dynamodb, strong_totp_secret
    from local.persistence import EmbeddedAws

    serialize_dynamodb()  # the API's threads and the event pump share this moto
    strong_totp_secret()
    os.environ.update({
        "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{moto_port}",
        # The local Cognito checks TOTP codes (against ONE secret for every user: moto_fixes, README).
        "MOTO_COGNITO_IDP_USER_POOL_ENABLE_TOTP": "true",
        # The embedded AWS publishes no SES events: the product's simulator does (adapters/mail_events.py).
        "MAIL_EVENTS_SIMULATED": "true",
        # Webhooks (issue #21 §3): the local stack's and the tests' receivers listen on 127.0.0.1.
        "WEBHOOKS_ALLOW_LOOPBACK": "true",
        # Issue #22 §5: the embedded SES has no send quota, so the email worker does not pace here
        # (its pacing is unit-tested with a fake clock; the bench projects the deployed pace).
        "SES_MAX_SEND_RATE": "1000000",
    })
    if before_start is not None:
        before_start()
    server = EmbeddedAws("127.0.0.1", moto_port, gate) if gate is not None else \
        ThreadedMotoServer(ip_address="127.0.0.1", port=moto_port, verbose=False)
    server.start()
    return server


def bind_app(clock=None):
    """The app's container, built from the environment with the product's clock (the API, the event
    pump and the scheduler all use it: `bootstrap.container()`)."""
    from chalicelib import bootstrap, settings

    bootstrap.reset()
    deps = bootstrap.build(settings.current(), clock=clock)
    bootstrap.use(deps)
    return deps


def provision_and_seed(endpoint_url: str, clock=None):
    """Create the AWS resources, bind the app to them, seed demo data. Returns (deps, accounts)."""
    from chalicelib import settings
    from local import aws_resources, seed

    os.environ.update(aws_resources.create_all(settings.from_environ(os.environ), endpoint_url))
    deps = bind_app(clock)
    return deps, seed.seed(deps)


# What of the environment locates the resources `provision_and_seed` created (saved with the data).
SAVED_ENVIRONMENT = ("USER_POOL_ID", "USER_POOL_CLIENT_ID")


def rebind_saved(endpoint_url: str, saved: dict, clock=None):
    """After the saved state is loaded: the app pointed at the same resources (the moto port may
    differ), with what this version adds to them (local.aws_resources.ensure_all). Returns (deps, added)."""
    from chalicelib import settings
    from local import aws_resources

    os.environ.update(saved["environment"])
    os.environ["JWKS_URL"] = f"{endpoint_url}/{saved['environment']['USER_POOL_ID']}/.well-known/jwks.json"
    added = aws_resources.ensure_all(settings.from_environ(os.environ))
    return bind_app(clock), added


def write_demo_accounts(api_url: str, accounts) -> str:
    os.makedirs(VAR_DIR, exist_ok=True)
    path = os.path.join(VAR_DIR, "demo-accounts.json")
    with open(path, "w", encoding="utf-8") as fh:
        json.dump({"api": api_url, "accounts": [
            {"email": a.email, "password": a.password, "name": a.name, "roles": a.roles,
             "organization_id": a.organization_id, "mfa_secret": a.mfa_secret} for a in accounts]}, fh, ensure_ascii=False, indent=2)
    return path


def set_aside_old_emails(outbox: str) -> Optional[str]:
    """New demo data starts with an empty outbox: emails of data that is gone (a state file deleted
    by hand, a run from before the data was kept) move aside, so two different "fatura nº 1" never
    sit side by side. Returns where they went, if anywhere."""
    if not os.path.isdir(outbox) or not any(name.endswith(".eml") for name in os.listdir(outbox)):
        return None
    aside = f"{outbox.rstrip(os.sep)}-before-{datetime.now():%Y%m%d-%H%M%S}"
    os.rename(outbox, aside)
    return aside


_run_lock = None


def _one_run_per_var_dir() -> bool:
    """Holds var/.run.lock for the life of the process (the OS lets it go however the process ends)."""
    import fcntl

    global _run_lock
    os.makedirs(VAR_DIR, exist_ok=True)
    _run_lock = open(os.path.join(VAR_DIR, ".run.lock"), "w")
    try:
        fcntl.flock(_run_lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False


def _stop_on_signals() -> None:
    """`kill` stops as Ctrl-C does: the data is saved. SIGINT is handled explicitly too: a process
    started in the background by a shell without job control (a script's `… &`, some CI runners)
    inherits SIGINT ignored, and Python then leaves it ignored — Ctrl-C (or a test's SIGINT) would
    never stop the stack."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, interrupt)


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
    _stop_on_signals()

    from local import demo_clock, persistence
    from local.moto_fixes import LOCAL_TOTP_SECRET
    from local.scheduler import Scheduler, app_schedules, initial_cursor

    state_path = os.path.join(VAR_DIR, persistence.STATE_FILE)
    if not _one_run_per_var_dir():
        print(f"Another `make run` keeps its data in {VAR_DIR}: stop it first (two would overwrite each "
              "other's saved state).", file=sys.stderr)
        return 2
    gate = persistence.Gate()
    loaded: dict = {}

    def load_saved_state():
        try:
            loaded["state"] = persistence.load(state_path)
        except persistence.StateError as error:
            loaded["error"] = error

    moto = start_embedded_aws(moto_port, gate=gate, before_start=load_saved_state)
    pump = sns_delivery = server = scheduler = saver = None
    try:
        if "error" in loaded:
            print(f"The saved local data cannot be loaded: {loaded['error']}.\n"
                  "`make run-clean` starts afresh (it deletes var/local-state.pickle and var/outbox).", file=sys.stderr)
            return 2
        saved = loaded.get("state")
        try:
            choice = demo_clock.choose(os.environ, saved["clock"] if saved else None)
        except ValueError as error:
            print(str(error), file=sys.stderr)
            return 2
        endpoint = os.environ["AWS_ENDPOINT_URL"]
        if saved is not None:
            deps, added = rebind_saved(endpoint, saved, choice.clock)
            if added:
                print("The saved data lacked what this version needs; added: " + ", ".join(added))
            # spend aggregate (#21 §1): invoices saved before it existed are counted once (idempotent).
            from chalicelib.services.spend import backfill_spend

            counted = backfill_spend(deps)["counted"]
            if counted:
                print(f"Spend aggregate: {counted} saved invoice(s) counted.")
            # closing-day shards (#22 §4): contracts saved before them moved to theirs (idempotent).
            from chalicelib.services.closing_shards import backfill_closing_shards

            moved = backfill_closing_shards(deps)["moved"]
            if moved:
                print(f"Closing-day index: {moved} saved contract(s) moved to their shards.")
            # credit notes' markers (#22 §1): notes saved before them marked in their collections (idempotent).
            from chalicelib.services.credit_markers import backfill_credit_markers

            done = backfill_credit_markers(deps)
            if done["marked_now"]:
                # No older code runs here: a second pass finds them all marked and says so at once.
                backfill_credit_markers(deps)
                print(f"Credit notes: {done['marked_now']} saved note(s) marked in their organisations' collections.")
            accounts = [seed_account(a) for a in saved["accounts"]]
        else:
            set_aside = set_aside_old_emails(os.environ["MAIL_COPY_DIR"])
            if set_aside:
                print(f"No saved data: new demo data. The emails of the data that is gone were moved to {set_aside}.")
            _, accounts = provision_and_seed(endpoint, choice.clock)
        accounts_file = write_demo_accounts(api_url, accounts)

        from chalice.cli.factory import CLIFactory

        from local.event_pump import EventPump
        from local.sns_delivery import SnsDelivery

        factory = CLIFactory(project_dir=PROJECT_DIR, environ=os.environ)
        config = factory.create_config_obj(chalice_stage_name="dev")
        app = config.chalice_app
        server = factory.create_local_server(app, config, "127.0.0.1", args.port)
        pump = EventPump(app, os.environ["AWS_REGION"])
        sns_delivery = SnsDelivery(app, os.environ["AWS_REGION"])
        if isinstance(choice.clock, demo_clock.DemoClock):
            cursor = saved["scheduler_cursor"] if saved else initial_cursor(choice.start)
        else:
            cursor = choice.start  # the system clock: fired from now on, as EventBridge would
        scheduler = Scheduler(app_schedules(app), choice.clock, os.environ["AWS_REGION"], cursor,
                              fast_forward_to=choice.fast_forward_to)

        def local_state() -> dict:
            return {"clock": choice.clock(), "scheduler_cursor": scheduler.cursor,
                    "environment": {name: os.environ[name] for name in SAVED_ENVIRONMENT},
                    "accounts": [asdict(a) for a in accounts], "saved_at": datetime.now().astimezone()}

        saver = persistence.Saver(state_path, gate, local_state, SAVE_SECONDS)
        saver.save()
        pump.start()
        sns_delivery.start()
        scheduler.start()
        saver.start()

        print("\ncsp-portal is running (embedded AWS on %s)" % endpoint)
        print(f"  API:          {api_url}   (OpenAPI: {api_url}/openapi.json)")
        print(f"  Emails:       {os.environ['MAIL_COPY_DIR']}/*.eml")
        print(f"  Demo logins:  {accounts_file}")
        for account in accounts:
            print(f"    {account.email:<32} {account.password}   {', '.join(account.roles)}")
        print("  MFA code (operator, Masters): "
              f"python -c \"import pyotp; print(pyotp.TOTP('{LOCAL_TOTP_SECRET}').now())\"")
        print(f"  Clock:        {choice.note}")
        if getattr(choice.clock, "speed", 1) > 60:
            print("                sign-in windows run fast too (an MFA step lasts 15 demo minutes): to log in as a "
                  "Master or the operator, start again without DEMO_SPEED (the data and the clock are kept)")
        print(f"  Schedules:    {len(scheduler.schedules)} from the app: "
              + ", ".join(f"{s.name} {s.expression.text}" for s in scheduler.schedules))
        print(f"  Data:         {state_path} ({'loaded from the last run' if saved else 'new demo data'}; "
              f"saved every {SAVE_SECONDS:g} s and on stop). `make run-clean` starts afresh.")
        print("Ctrl-C stops everything.\n", flush=True)
        server.serve_forever()
    except KeyboardInterrupt:
        print("\nStopping…")
    finally:
        stopping = time.monotonic()
        # Every thread told at once, then waited for: the event pump takes no new batch while the
        # scheduler finishes its firing (on a busy machine each can take seconds).
        for part in (scheduler, pump, sns_delivery):
            if part is not None:
                part.request_stop()
        if scheduler is not None:
            scheduler.stop()
        print(f"  scheduler stopped ({time.monotonic() - stopping:.1f} s)", flush=True)
        if pump is not None:
            pump.stop()
        if sns_delivery is not None:
            sns_delivery.stop()
        print(f"  event pump stopped ({time.monotonic() - stopping:.1f} s)", flush=True)
        if server is not None:
            server.server.server_close()
        if saver is not None:
            saver.stop()
            print(f"  state saver stopped ({time.monotonic() - stopping:.1f} s)", flush=True)
            saver.save()
            print(f"Data saved to {state_path} ({time.monotonic() - stopping:.1f} s).", flush=True)
        moto.stop()
        print(f"  embedded AWS stopped ({time.monotonic() - stopping:.1f} s)", flush=True)
    return 0


def seed_account(saved: dict):
    from local.seed import DemoAccount

    return DemoAccount(**saved)


if __name__ == "__main__":
    sys.exit(main())
