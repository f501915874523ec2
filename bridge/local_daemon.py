"""`reverie serve` as a child process: what benchmarks, demos and tests use to get a real
daemon in another process, on private ipc:// endpoints unless told otherwise."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .client import ControlClient, DaemonUnavailable
from .control import Endpoints


def private_endpoints() -> Endpoints:
    """Fresh ipc:// endpoints in a new short temp folder (ipc paths are limited to ~100 bytes)."""
    base = tempfile.mkdtemp(prefix="rv-", dir="/tmp")
    return Endpoints(control=f"ipc://{base}/control", events=f"ipc://{base}/events", frames=f"ipc://{base}/frames")


def discard_endpoints(endpoints: Endpoints) -> None:
    """Remove the folder `private_endpoints` made."""
    shutil.rmtree(endpoints.control[len("ipc://") :].rsplit("/", 1)[0], ignore_errors=True)


class LocalDaemon:
    """Start with `start()` (or `with LocalDaemon(...) as daemon:`); `stop()` shuts it down
    over control, `kill()` crashes it."""

    def __init__(
        self,
        endpoints: Endpoints | None = None,
        stylizer: str = "identity",
        extra: list[str] | None = None,
        *,
        curve_keys: Path | None = None,
        connect: str | None = None,
        ready_timeout_s: float = 20.0,
    ):
        self._own_endpoints = endpoints is None
        self.endpoints = endpoints or private_endpoints()
        self.stylizer = stylizer
        self.extra = list(extra or [])
        self.curve_keys = curve_keys
        self.connect = connect or self.endpoints.control  # where clients reach control
        self.proc: subprocess.Popen | None = None
        self.output: list[str] = []
        self.ready_timeout_s = ready_timeout_s  # for `with`: a model daemon loads (and may export) its network first

    def command(self) -> list[str]:
        eps = self.endpoints
        cmd = [
            sys.executable,
            "-m",
            "reverie",
            "serve",
            "--control",
            eps.control,
            "--events",
            eps.events,
            "--frames",
            eps.frames,
            "--stylizer",
            self.stylizer,
            "--log-level",
            "WARNING",
            *self.extra,
        ]
        if self.curve_keys is not None:
            cmd += ["--curve-keys", str(self.curve_keys)]
        return cmd

    def start(self, timeout_s: float = 20.0) -> LocalDaemon:
        """Run it and return once it answers a ping."""
        self.proc = subprocess.Popen(self.command(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        while True:  # it prints its endpoints, "frames" last, once bound
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"the daemon exited before serving: {''.join(self.output)}")
            self.output.append(line)
            if line.strip().startswith("frames"):
                break
        self.wait_ready(timeout_s)
        return self

    def client(self, timeout_s: float = 2.0) -> ControlClient:
        return ControlClient(self.connect, timeout_s=timeout_s, curve_keys=self.curve_keys)

    def wait_ready(self, timeout_s: float = 10.0) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with self.client(0.5) as ctl:
                    ctl.request("ping")
                return
            except DaemonUnavailable:
                if time.monotonic() > deadline:
                    raise

    @property
    def pid(self) -> int:
        return self.proc.pid

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        self.proc.kill()
        self.proc.wait(10)

    def stop(self) -> int:
        """Clean shutdown over control (SIGKILL if it does not exit); its exit status."""
        if self.proc is None:
            return 0
        try:
            if self.proc.poll() is None:
                try:
                    with self.client(1.0) as ctl:
                        ctl.request("shutdown")
                    self.proc.wait(10)
                except (DaemonUnavailable, subprocess.TimeoutExpired):
                    self.kill()
            return self.proc.returncode
        finally:
            if self.proc.stdout and not self.proc.stdout.closed:
                self.output.append(self.proc.stdout.read() or "")
                self.proc.stdout.close()
            if self._own_endpoints:
                discard_endpoints(self.endpoints)

    def __enter__(self) -> LocalDaemon:
        return self.start(self.ready_timeout_s)

    def __exit__(self, *exc: object) -> None:
        self.stop()
