"""Shared fixtures: a real daemon in a child process on private ipc:// endpoints."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from reverie.bridge.local_daemon import LocalDaemon, discard_endpoints, private_endpoints

TESTS = Path(__file__).resolve().parent
STYLIZERS = TESTS / "stylizers.py"


def stylizer_spec(name: str) -> str:
    """A `--stylizer` argument for a class in tests/stylizers.py."""
    return f"{STYLIZERS}:{name}"


@pytest.fixture
def endpoints():
    """Private ipc:// endpoints in a short temp dir (ipc paths are limited to ~100 bytes)."""
    endpoints = private_endpoints()
    yield endpoints
    discard_endpoints(endpoints)


@pytest.fixture
def start_daemon(endpoints):
    """Factory: start_daemon(stylizer="identity", extra=[...]) -> LocalDaemon; all stopped at teardown."""
    started: list[LocalDaemon] = []

    def start(stylizer: str = "identity", extra: list[str] | None = None) -> LocalDaemon:
        daemon = LocalDaemon(endpoints, stylizer, extra).start()
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


@pytest.fixture(autouse=True, scope="session")
def _private_model_cache(tmp_path_factory):
    """Exported ONNX files go to a temporary cache (shared by the session and the daemons it
    starts), never to the user's ~/.cache."""
    if "REVERIE_CACHE" not in os.environ:
        os.environ["REVERIE_CACHE"] = str(tmp_path_factory.mktemp("reverie-cache"))
    yield


@pytest.fixture(autouse=True, scope="session")
def _private_styles_folder(tmp_path_factory):
    """Daemons and `reverie styles` read an empty user styles folder, never the user's
    ~/.local/share/reverie/styles: the tests see the shipped packs and their own only."""
    if "REVERIE_STYLES" not in os.environ:
        os.environ["REVERIE_STYLES"] = str(tmp_path_factory.mktemp("reverie-styles"))
    yield


@pytest.fixture(autouse=True, scope="session")
def _private_captures_folder(tmp_path_factory):
    """Bare `record_start` names land in a temporary captures folder (which daemons also
    allow absolute paths in), never in the user's ~/.local/share/reverie/captures."""
    if "REVERIE_CAPTURES" not in os.environ:
        os.environ["REVERIE_CAPTURES"] = str(tmp_path_factory.mktemp("reverie-captures"))
    yield
