"""Shared fixtures: a real daemon in a child process on private ipc:// endpoints."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from reverie.bridge import ControlClient, DaemonUnavailable
from reverie.bridge.control import Endpoints

TESTS = Path(__file__).resolve().parent
STYLIZERS = TESTS / "stylizers.py"


def stylizer_spec(name: str) -> str:
    """A `--stylizer` argument for a class in tests/stylizers.py."""
    return f"{STYLIZERS}:{name}"


class DaemonProcess:
    """`reverie serve` as a child process, started and stopped by tests."""

    def __init__(self, endpoints: Endpoints, stylizer: str = "identity", extra: list[str] | None = None):
        self.endpoints = endpoints
        self.stylizer = stylizer
        self.extra = extra or []
        self.proc: subprocess.Popen | None = None
        self.output: list[str] = []

    def start(self, timeout_s: float = 20.0) -> "DaemonProcess":
        cmd = [
            sys.executable, "-m", "reverie", "serve",
            "--control", self.endpoints.control,
            "--events", self.endpoints.events,
            "--frames", self.endpoints.frames,
            "--stylizer", self.stylizer,
            "--log-level", "WARNING",
            *self.extra,
        ]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"daemon exited early: {''.join(self.output)}")
            self.output.append(line)
            if line.strip().startswith("frames"):
                break
        else:
            raise TimeoutError("daemon did not print its endpoints")
        self.wait_ready()
        return self

    def wait_ready(self, timeout_s: float = 10.0) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with ControlClient(self.endpoints.control, timeout_s=0.5) as ctl:
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
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> int:
        """Clean shutdown over control; SIGKILL if it does not exit."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        try:
            with ControlClient(self.endpoints.control, timeout_s=1.0) as ctl:
                ctl.request("shutdown")
            return self.proc.wait(10)
        except (DaemonUnavailable, subprocess.TimeoutExpired):
            self.kill()
            return -9
        finally:
            rest = self.proc.stdout.read() if self.proc.stdout else ""
            self.output.append(rest or "")


@pytest.fixture
def endpoints():
    """Private ipc:// endpoints in a short temp dir (ipc paths are limited to ~100 bytes)."""
    base = tempfile.mkdtemp(prefix="rv-", dir="/tmp")
    yield Endpoints(control=f"ipc://{base}/control", events=f"ipc://{base}/events", frames=f"ipc://{base}/frames")
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def start_daemon(endpoints):
    """Factory: start_daemon(stylizer="identity", extra=[...]) -> DaemonProcess; all stopped at teardown."""
    started: list[DaemonProcess] = []

    def start(stylizer: str = "identity", extra: list[str] | None = None) -> DaemonProcess:
        daemon = DaemonProcess(endpoints, stylizer, extra).start()
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        daemon.stop()


def random_frame(rng: np.random.Generator, width: int, height: int, motion_dtype=np.float32):
    """Random planes with no zero bytes in color and no zero values in depth or motion."""
    color = rng.integers(1, 256, (height, width, 4), dtype=np.uint8)
    depth = rng.uniform(0.1, 1000.0, (height, width)).astype(np.float32)
    motion = rng.uniform(1.0, 64.0, (height, width, 2)) * rng.choice([-1.0, 1.0], (height, width, 2))
    return color, depth, motion.astype(motion_dtype)


@pytest.fixture
def rng():
    return np.random.default_rng(int(os.environ.get("REVERIE_TEST_SEED", "1234")))
