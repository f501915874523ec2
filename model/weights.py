"""A weights folder: `model.safetensors` (the denoiser's tensors) beside `config.json`.

Everything that serves a model reads a folder through here, and training writes it
through here, so the file layout has one definition and serving never imports the
trainer. config.json holds:

- "config": the training config (`train.TrainConfig.to_dict()`); of it a loader needs
  only "network", the network's shape (`network.NetworkConfig`, read by
  `NetworkConfig.from_dict`, the one definition training uses too);
- "inference": the settings the model was measured at and runs at, written by
  `publish_weights`: the history trust, per look where one differs (`look_trust`);
  absent in a training checkpoint, which then runs as trained (trust 0);
- "step", "wall_s", "lineage" (the runs behind fine-tuned weights) and, for a style
  pack's weights, "finetune": the record of how they were made, read by no loader.
"""

from __future__ import annotations

import functools
import json
import shutil
from pathlib import Path
from typing import Any

from .look_trust import LookTrust
from .network import Denoiser, NetworkConfig

DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "weights"  # the shipped model
MODEL_FILE = "model.safetensors"
CONFIG_FILE = "config.json"


def read_config(folder: Path) -> dict[str, Any]:
    """The folder's config.json as a dict."""
    return json.loads((Path(folder) / CONFIG_FILE).read_text())


def write_config(folder: Path, meta: dict[str, Any]) -> None:
    """Write `meta` as the folder's config.json (indented, as the committed weights are)."""
    (Path(folder) / CONFIG_FILE).write_text(json.dumps(meta, indent=2) + "\n")


def network_config(folder: Path) -> NetworkConfig:
    """The shape of the network whose tensors the folder holds."""
    return NetworkConfig.from_dict(read_config(folder)["config"].get("network", {}))


def weights_stride(folder: Path) -> int:
    """The size multiple the weights in `folder` need."""
    return network_config(folder).stride


def look_trust(folder: Path) -> LookTrust:
    """The history trust the weights in `folder` run at ("inference" in config.json); the
    network as trained (0 everywhere) for a checkpoint that was never published."""
    return LookTrust.from_json(read_config(folder).get("inference", {}))


def load_model(folder: Path) -> Denoiser:
    """The denoiser in `folder`, in eval mode. Raises RuntimeError (shapes that do not fit
    this version's network), KeyError or TypeError (a broken config) when it does not load."""
    from safetensors.torch import load_file

    model = Denoiser(network_config(folder))
    model.load_state_dict(load_file(str(Path(folder) / MODEL_FILE)))
    return model.eval()


@functools.lru_cache(maxsize=16)
def weights_sha256(folder: Path) -> str | None:
    """sha256 of the folder's model.safetensors (5-20 MB: a few ms, once per folder); None
    where there is none. What a capture records to tell which weights made it."""
    from .backends.cache import sha256_file

    path = Path(folder) / MODEL_FILE
    return sha256_file(path) if path.is_file() else None


def publish_weights(run: Path, out: Path, trust: LookTrust) -> Path:
    """Copy a checkpoint's weights and config into a shipped-weights folder (model/weights)
    with the inference settings measured for it ("inference" in config.json: the history
    trust, per look where one differs, which the daemon, eval and export read); whatever
    else the checkpoint holds (the optimizer state, the critic) stays behind."""
    meta = read_config(run)
    meta["inference"] = trust.to_json()
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(run / MODEL_FILE, out / MODEL_FILE)
    write_config(out, meta)
    return out
