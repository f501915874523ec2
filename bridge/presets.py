"""Named presets: a prompt with the settings that suit it, loadable over control."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from . import protocol as P


@dataclass(frozen=True)
class Preset:
    name: str
    prompt: str
    steps: int = 2
    strength: float = 0.8
    seed: int = 0
    transition_frames: int = 24


def builtin_presets() -> dict[str, Preset]:
    """The looks every install has."""
    presets = [
        Preset("anime", "anime, cel-shaded, clean line art"),
        Preset("winter", "winter night, snow on every surface, cold moonlight"),
        Preset("oil", "oil painting, thick brush strokes, warm palette", strength=0.9),
        Preset("watercolor", "watercolor on paper, soft pigment bleeding"),
        Preset("pencil", "pencil sketch, cross-hatching on white paper", steps=1),
    ]
    return {p.name: p for p in presets}


def load_presets_file(path: Path) -> dict[str, Preset]:
    """Read `[preset.NAME]` tables from a TOML file; errors name the preset and field."""
    with open(path, "rb") as f:
        data = tomllib.load(f)
    tables = data.get("preset")
    if not isinstance(tables, dict):
        raise ValueError(f"{path}: expected [preset.NAME] tables")
    presets = {}
    for name, table in tables.items():
        if not isinstance(table, dict) or not isinstance(table.get("prompt"), str):
            raise ValueError(f"{path}: preset {name!r} needs a string 'prompt'")
        unknown = set(table) - {"prompt", "steps", "strength", "seed", "transition_frames"}
        if unknown:
            raise ValueError(f"{path}: preset {name!r} has unknown field(s) {sorted(unknown)}")
        fields = {k: v for k, v in table.items()}
        request = {"v": P.PROTOCOL_MAJOR, "op": "set_params", **{k: v for k, v in fields.items() if k in ("steps", "strength", "seed")}}
        try:
            P.validate_request(request)
            P.validate_request({"v": P.PROTOCOL_MAJOR, "op": "set_prompt", "text": fields["prompt"], "transition_frames": fields.get("transition_frames", 0)})
        except P.ProtocolError as exc:
            raise ValueError(f"{path}: preset {name!r}: {exc.message}") from None
        presets[name] = Preset(name=name, **fields)
    return presets
