"""A background thread that polls its sources in turn until stopped, as Lambda's pollers do.

The SQS event pump (local/event_pump.py) and the SNS delivery (local/sns_delivery.py) differ in
what one poll of a source does; the loop, its error handling and its stopping are this one.
"""
from __future__ import annotations

import logging
import threading
from typing import Iterable, Optional

log = logging.getLogger("csp_portal.local.polling")


class PollingThread:
    thread_name = "poller"

    def __init__(self, wait_seconds: int):
        self._wait = wait_seconds
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def sources(self) -> Iterable[str]:
        raise NotImplementedError

    def poll(self, source: str, wait_seconds: int) -> int:
        """Receive once from `source` and hand what came to its handler; returns how many."""
        raise NotImplementedError

    def _loop(self) -> None:
        while not self._stop.is_set():
            for source in self.sources():
                if self._stop.is_set():
                    break
                try:
                    self.poll(source, self._wait)
                except Exception:  # noqa: BLE001 - keep polling; the server may be shutting down
                    log.exception("%s error on %s", self.thread_name, source)
                    self._stop.wait(1)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name=self.thread_name, daemon=True)
        self._thread.start()

    def request_stop(self) -> None:
        """No new poll from now on (the one under way finishes): `stop` then waits for it."""
        self._stop.set()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
