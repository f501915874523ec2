"""The on-disk cache of exported ONNX files (and TensorRT engines beside them).

Exporting takes a few seconds and a TensorRT build minutes, so both happen once per set
of weights. The ONNX file is keyed by the sha256 of the weights *and* of the sources that
define the graph (network, diffusion, export): the same weights under changed code must
not run a stale graph. Files appear atomically (written aside, then renamed), so two
daemons starting together never read half a file.

Where: `$REVERIE_CACHE`, else `$XDG_CACHE_HOME/reverie`, else `~/.cache/reverie`.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import warnings
from pathlib import Path

import torch

from .. import diffusion, export, network
from ..export import export_onnx, parity
from ..network import Denoiser

PARITY_LIMIT = 1e-3  # largest relative error of a fresh export against torch


def cache_dir(explicit: Path | None = None) -> Path:
    """The cache folder (created)."""
    if explicit is not None:
        folder = Path(explicit)
    elif os.environ.get("REVERIE_CACHE"):
        folder = Path(os.environ["REVERIE_CACHE"])
    else:
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        folder = Path(base) / "reverie"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def onnx_key(weights: Path) -> str:
    """sha256 over the weights, their config and the graph-defining sources, plus the
    torch version (its exporter writes the graph)."""
    digest = hashlib.sha256()
    for path in (weights / "model.safetensors", weights / "config.json"):
        digest.update(sha256_file(path).encode())
    for module in (network, diffusion, export):
        digest.update(Path(module.__file__).read_bytes())
    digest.update(torch.__version__.encode())
    return digest.hexdigest()


def write_atomically(path: Path, data: bytes) -> Path:
    """Write `data` next to `path`, then rename over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def cached_onnx(model: Denoiser, weights: Path, cache: Path | None = None) -> Path:
    """The ONNX file of `model` (loaded from folder `weights`), exported and checked
    against torch on first use."""
    path = cache_dir(cache) / "onnx" / f"{onnx_key(weights)[:32]}.onnx"
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        with warnings.catch_warnings():  # the tracer's notes on the size check: expected, harmless
            warnings.simplefilter("ignore")
            fresh = export_onnx(model, Path(tmp) / "model.onnx")
        stride = model.config.stride
        error = parity(model, fresh, [(2 * stride, 3 * stride)])
        if not error < PARITY_LIMIT:
            raise RuntimeError(f"the ONNX export differs from torch by {error:.2e} (limit {PARITY_LIMIT}); not cached")
        os.replace(fresh, path)
    return path
