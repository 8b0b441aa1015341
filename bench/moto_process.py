"""The embedded AWS of `make bench` in its own process, so that the bench's process holds the
product alone: its peak memory is the product's, and moto's is read apart (VmHWM of this process).

Run as `python -m bench.moto_process PORT` by `MotoProcess`: it starts moto as `make run` does
(`local.run.start_embedded_aws`: its fixes to moto are made in this process, where moto runs),
prints on one line the environment the product needs to reach it (AWS_ENDPOINT_URL…), and serves
until its standard input closes (the bench ending, however it ends).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent


def serve(port: int) -> None:
    sys.path.insert(0, str(PROJECT_DIR))
    from local.run import start_embedded_aws

    before = dict(os.environ)
    server = start_embedded_aws(port)
    print(json.dumps({k: v for k, v in os.environ.items() if before.get(k) != v}), flush=True)
    sys.stdin.read()  # until the bench closes it
    server.stop()


def _peak_kb(pid: int) -> int:
    """VmHWM (the peak resident set) of a live process, in kB, from /proc (psutil is not installed)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


class MotoProcess:
    """moto on a free loopback port in a child process; the bench process pointed at it."""

    def __init__(self, log_path: Path):
        from local.run import free_port

        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(log_path, "w")
        # The bench empties moto's queues with PurgeQueue as its messages are handed over directly
        # (bench/run.py, DirectEventSource); moto refuses a second purge within 60 s unless told not to.
        env = {**os.environ, "MOTO_SQS_ENFORCE_STRICT_QUEUE_PURGE_BEHAVIOUR": "false", "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen([sys.executable, "-m", "bench.moto_process", str(free_port())],
                                        cwd=PROJECT_DIR, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=self._log, text=True)
        line = self.process.stdout.readline()
        if not line:
            self.stop()
            raise RuntimeError(f"moto did not start: see {log_path}")
        os.environ.update(json.loads(line))
        self._wait_until_answering(os.environ["AWS_ENDPOINT_URL"])

    @staticmethod
    def _wait_until_answering(url: str, seconds: float = 30) -> None:
        import urllib.request

        deadline = time.monotonic() + seconds
        while True:
            try:
                urllib.request.urlopen(f"{url}/moto-api/data.json", timeout=5).read()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def peak_mb(self) -> float:
        return round(_peak_kb(self.process.pid) / 1024, 1)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


if __name__ == "__main__":
    serve(int(sys.argv[1]))
