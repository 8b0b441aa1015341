"""`make run` keeps its data: the embedded AWS's state (moto's backends: the table, the bucket, the
queues, the user pool, SES) and the local run's own (the demo clock, the scheduler's position, the
user pool's ids, the demo logins), saved together in one file under var/ and loaded on the next start.

Why pickling moto's backends: they are plain Python objects, and a pickle keeps every detail the
AWS APIs cannot export and import back — Cognito users keep their ids (`sub`, which the table refers
to), passwords, MFA enrolment and refresh tokens; queued messages keep their ids and receive counts.
What does not pickle is replaced on load by its equivalent: locks and conditions by new ones, the
user pool's signing key (moto's fixed key) by the same key imported again.

A consistent picture: every request to the embedded AWS passes a shared gate; a save closes it for
the moment it takes to pickle (a few hundred ms), so no write is half in the file. The file is
written beside and renamed over the old one: a kill during a save leaves the previous one whole.

The file is a pickle: loading it runs what it says, so it is only ever read from this machine's own
var/ (never from elsewhere).
"""
from __future__ import annotations

import importlib
import io
import logging
import os
import pickle
import threading
from contextlib import contextmanager
from typing import Any, Dict, Iterator, List, Optional, Tuple

log = logging.getLogger("csp_portal.local.persistence")

FORMAT = 1
STATE_FILE = "local-state.pickle"


class StateError(Exception):
    """The saved state cannot be loaded (another moto, another format, a damaged file)."""


# --- the gate ---------------------------------------------------------------------------------------

class Gate:
    """Many requests at once, or one save alone. A waiting save goes first: requests that arrive
    meanwhile wait for it (a long poll already inside holds it back at most its wait)."""

    def __init__(self):
        self._condition = threading.Condition()
        self._inside = 0
        self._saving = False
        self._waiting_saves = 0

    @contextmanager
    def shared(self) -> Iterator[None]:
        with self._condition:
            self._condition.wait_for(lambda: not self._saving and not self._waiting_saves)
            self._inside += 1
        try:
            yield
        finally:
            with self._condition:
                self._inside -= 1
                self._condition.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._condition:
            self._waiting_saves += 1
            self._condition.wait_for(lambda: not self._saving and self._inside == 0)
            self._waiting_saves -= 1
            self._saving = True
        try:
            yield
        finally:
            with self._condition:
                self._saving = False
                self._condition.notify_all()


class GatedApp:
    """WSGI middleware: each request to moto passes the gate, its whole answer computed inside."""

    def __init__(self, app, gate: Gate):
        self._app, self._gate = app, gate

    def __call__(self, environ, start_response):
        with self._gate.shared():
            return list(self._app(environ, start_response))


class EmbeddedAws:
    """moto's ThreadedMotoServer, with the gate in front of it."""

    def __init__(self, ip_address: str, port: int, gate: Gate):
        self.gate, self._ip, self._port = gate, ip_address, port
        self._server = None
        self._thread: Optional[threading.Thread] = None

    def start(self) -> None:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
        from werkzeug.serving import make_server

        app = GatedApp(DomainDispatcherApplication(create_backend_app), self.gate)
        self._server = make_server(self._ip, self._port, app, True, request_handler=MotoRequestHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="embedded-aws", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)


# --- pickling moto ----------------------------------------------------------------------------------

def _new_lock():
    return threading.Lock()


def _new_rlock():
    return threading.RLock()


def _new_condition():
    return threading.Condition()


def _rsa_key(data: Dict[str, Any]):
    from joserfc import jwk

    return jwk.RSAKey.import_key(data)


_LOCK_TYPE, _RLOCK_TYPE = type(threading.Lock()), type(threading.RLock())


class _Pickler(pickle.Pickler):
    def reducer_override(self, obj):
        if isinstance(obj, threading.Condition):
            return _new_condition, ()
        if type(obj) is _LOCK_TYPE:
            return _new_lock, ()
        if type(obj) is _RLOCK_TYPE:
            return _new_rlock, ()
        if type(obj).__name__ == "RSAKey" and type(obj).__module__.startswith("joserfc"):
            return _rsa_key, (obj.as_dict(private=True),)
        return NotImplemented


def _backends() -> List[Tuple[str, str, str, str, Any]]:
    """(module, class, account, region, backend) of every moto backend in use."""
    from moto.core.base_backend import BackendDict

    return [(type(backend).__module__, type(backend).__qualname__, account, region, backend)
            for backend_dict in list(BackendDict._instances)
            for account, region, backend in list(backend_dict.iter_backends())]


def _backend_dict(module_name: str, class_name: str):
    from moto.core.base_backend import BackendDict

    module = importlib.import_module(module_name)
    for value in vars(module).values():
        if isinstance(value, BackendDict) and value.backend.__qualname__ == class_name:
            return value
    raise StateError(f"moto has no backends for {module_name}.{class_name}")


def pickled(obj: Any) -> bytes:
    """`obj` pickled, its locks and signing keys included (as new ones, and as the same key)."""
    buffer = io.BytesIO()
    _Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(obj)
    return buffer.getvalue()


def dumps(local: Dict[str, Any]) -> bytes:
    """The embedded AWS's state and `local` (call with the gate closed)."""
    import moto

    return pickled({"format": FORMAT, "moto": moto.__version__, "local": local, "backends": _backends()})


def write_atomically(path: str, data: bytes) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    temporary = f"{path}.{os.getpid()}.tmp"
    # Only its owner reads it: the state holds the demo users' passwords and refresh tokens.
    with open(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(temporary, path)


def load(path: str) -> Optional[Dict[str, Any]]:
    """Install the saved backends into moto (before the server answers anyone); returns the local
    state, or None when there is no file."""
    import moto

    if not os.path.exists(path):
        return None
    try:
        with open(path, "rb") as fh:
            state = pickle.load(fh)
    except Exception as error:  # noqa: BLE001 - any damage: said plainly, never a silent fresh start
        raise StateError(f"{path} cannot be read ({error.__class__.__name__}: {error})") from error
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise StateError(f"{path} was written by another version of local/persistence.py")
    if state["moto"] != moto.__version__:
        raise StateError(f"{path} was written by moto {state['moto']}, this is moto {moto.__version__}")
    for module_name, class_name, account, region, backend in state["backends"]:
        _backend_dict(module_name, class_name)[account][region] = backend
    return state["local"]


class Saver:
    """Saves now (`save`) and every `interval` seconds until stopped; `local_state()` gives the local
    run's part, read while the gate is closed so it matches the AWS part."""

    def __init__(self, path: str, gate: Gate, local_state, interval: float = 30.0):
        self.path, self._gate, self._local_state, self._interval = path, gate, local_state, interval
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._lock = threading.Lock()

    def save(self) -> None:
        with self._lock:
            with self._gate.exclusive():
                data = dumps(self._local_state())
            write_atomically(self.path, data)

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.save()
            except Exception:  # noqa: BLE001 - the next save tries again; the stop saves too
                log.exception("saving the local state to %s failed", self.path)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="state-saver", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
