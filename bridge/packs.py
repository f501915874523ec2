"""Style packs: a folder a modder can share, holding one look for the daemon.

A pack is a folder with a `style.toml` (and, optionally, fine-tuned weights and a
thumbnail beside it):

    name = "neon"                       # required: what `load_preset` and `/preset` use
    author = "A. Modder"
    prompt = "neon city at night"       # required
    steps = 2                           # 1..8
    strength = 0.8                      # 0..1
    seed = 0                            # 0..2**63-1
    transition_frames = 24              # 0..10000
    weights = "weights"                 # a folder with model.safetensors + config.json
    thumbnail = "thumbnail.png"

This module has one job: the pack format. It reads, validates, finds and writes packs;
it never imports the model (a deep check of a pack's weights takes the model's loader as
`load_weights`, from the modding tool), so the daemon and the console stay light. Every
problem is a `StyleError` naming the file, the line and the field
(`styles/neon/style.toml:4: field 'steps': must be 1..8, got 12`), because a modder
fixing a pack needs to know exactly where to look, and all of a file's problems are
reported at once, not one per run.

Packs are found in folders (`style_dirs`): the shipped ones (`styles/` in the project),
then the user's (`$REVERIE_STYLES`, else `$XDG_DATA_HOME/reverie/styles`, else
`~/.local/share/reverie/styles`), then any given on the command line; a later folder's
pack replaces an earlier one of the same name, so a user can override a shipped look.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import shutil
import struct
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reverie.common.paths import user_data_dir

from . import protocol as P

WeightsLoader = Callable[[Path], object]  # loads a weights folder into the network, raising when it does not fit

STYLE_FILE = "style.toml"
SHIPPED_STYLES = Path(__file__).resolve().parent.parent / "styles"  # the repo's styles/ (reverie/styles when installed)
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")  # a folder name and a console word: no spaces, no '/'
MAX_AUTHOR_CHARS = 100
WEIGHT_FILES = ("model.safetensors", "config.json")  # what `reverie publish` writes (model/weights.py publish_weights)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_SAFETENSORS_HEADER = 100 * 2**20


@dataclass(frozen=True)
class StyleError:
    """One problem in one pack file: where it is and what is wrong."""

    path: Path
    line: int
    field: str | None
    message: str

    def __str__(self) -> str:
        where = f"field '{self.field}': " if self.field else ""
        at = f"{self.path}:{self.line}" if self.line else str(self.path)  # line 0: not written yet (write_pack)
        return f"{at}: {where}{self.message}"


class StylePackError(ValueError):
    """A pack that does not load; `errors` lists every problem found."""

    def __init__(self, errors: list[StyleError]):
        super().__init__("\n".join(str(e) for e in errors))
        self.errors = errors


@dataclass(frozen=True)
class StylePack:
    """A validated pack. `weights` and `thumbnail` are absolute paths inside `folder`."""

    name: str
    prompt: str
    author: str = ""
    steps: int = 2
    strength: float = 0.8
    seed: int = 0
    transition_frames: int = 24
    weights: Path | None = None  # a folder holding WEIGHT_FILES
    thumbnail: Path | None = None
    folder: Path | None = None

    def describe(self) -> dict[str, Any]:
        """The pack as the protocol shows it (`list_presets`, `load_preset`): the old
        preset fields first, so older clients read what they always read."""
        return {
            "name": self.name,
            "prompt": self.prompt,
            "steps": self.steps,
            "strength": self.strength,
            "seed": self.seed,
            "transition_frames": self.transition_frames,
            "author": self.author,
            "has_weights": self.weights is not None,
            "has_thumbnail": self.thumbnail is not None,
        }


# ---------------------------------------------------------------- the fields
@dataclass(frozen=True)
class _Spec:
    kind: str  # "str", "int", "float", "path"
    required: bool = False
    low: float | None = None
    high: float | None = None
    max_len: int | None = None
    help: str = ""


FIELDS: dict[str, _Spec] = {
    "name": _Spec("str", required=True, max_len=64, help="the pack's name (letters, digits, '_', '-', '.')"),
    "author": _Spec("str", max_len=MAX_AUTHOR_CHARS),
    "prompt": _Spec("str", required=True, max_len=P.MAX_PROMPT_CHARS, help="the text the model is conditioned on"),
    "steps": _Spec("int", low=1, high=P.MAX_STEPS),
    "strength": _Spec("float", low=0.0, high=1.0),
    "seed": _Spec("int", low=0, high=2**63 - 1),
    "transition_frames": _Spec("int", low=0, high=P.MAX_TRANSITION_FRAMES),
    "weights": _Spec("path", help="a folder in the pack with model.safetensors and config.json"),
    "thumbnail": _Spec("path", help="a PNG in the pack"),
}
_TYPE_WORDS = {
    "str": "a string",
    "int": "an integer",
    "float": "a number",
    "path": "a path string relative to the pack",
}


def _toml_type(value: Any) -> str:
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a float",
        str: "a string",
        dict: "a table",
        list: "an array",
    }.get(type(value), f"a {type(value).__name__}")


def _check_value(name: str, spec: _Spec, value: Any) -> str | None:
    """Why `value` is wrong for field `name`, or None."""
    ok_type = {
        "str": isinstance(value, str),
        "path": isinstance(value, str),
        "int": isinstance(value, int) and not isinstance(value, bool),
        "float": isinstance(value, (int, float)) and not isinstance(value, bool),
    }[spec.kind]
    if not ok_type:
        return f"must be {_TYPE_WORDS[spec.kind]}, got {_toml_type(value)} {value!r}"[:300]
    if spec.kind in ("str", "path"):
        if spec.max_len is not None and len(value) > spec.max_len:
            return f"at most {spec.max_len} characters, got {len(value)}"
        if spec.required and not value.strip():
            return "must not be empty"
        if name == "name" and not NAME_PATTERN.fullmatch(value):
            return f"must be letters, digits, '_', '-' or '.' (starting with a letter or digit), got {value!r}"
        return None
    if value != value or value in (float("inf"), float("-inf")):
        return f"must be a finite number, got {value}"
    if not spec.low <= value <= spec.high:
        low, high = (int(spec.low), int(spec.high)) if spec.kind == "int" else (spec.low, spec.high)
        return f"must be {low}..{high}, got {value}"
    return None


# ---------------------------------------------------------------- where a key is written
def key_lines(text: str) -> dict[str, int]:
    """The line (1-based) where each top-level key or table of a TOML text starts. tomllib
    keeps no positions, so semantic errors find their line here. Lines inside multi-line
    strings are skipped (a prompt may contain 'steps = 3')."""
    lines: dict[str, int] = {}
    in_string: str | None = None
    key = re.compile(r"""\s*\[*\s*(?:"([^"]*)"|'([^']*)'|([A-Za-z0-9_-]+))\s*[=.\]]""")
    for number, line in enumerate(text.splitlines(), 1):
        if in_string is None:
            match = key.match(line)
            if match:
                lines.setdefault(next(g for g in match.groups() if g is not None), number)
        for quote in re.findall(r'"""|\'\'\'', line):
            if in_string is None:
                in_string = quote
            elif quote == in_string:
                in_string = None
    return lines


def _syntax_error(path: Path, text: str, exc: tomllib.TOMLDecodeError) -> StyleError:
    """tomllib says where ("... (at line 4, column 9)"); name the field on that line too."""
    message = str(exc)
    match = re.search(r"\(at line (\d+), column (\d+)\)", message)
    line = int(match.group(1)) if match else max(1, len(text.splitlines()))
    reason = re.sub(r"\s*\(at (line \d+, column \d+|end of document)\)", "", message)
    lines = text.splitlines()
    field_name = None
    if 0 < line <= len(lines):
        key = re.match(r"""\s*(?:"([^"]*)"|'([^']*)'|([A-Za-z0-9_-]+))\s*=""", lines[line - 1])
        if key:
            field_name = next(g for g in key.groups() if g is not None)
    column = f" (column {match.group(2)})" if match else ""
    return StyleError(path, line, field_name, f"TOML syntax error: {reason}{column}")


# ---------------------------------------------------------------- reading a pack
def pack_file(path: Path) -> Path:
    """The style.toml of a pack given as its folder or as the file itself."""
    path = Path(path)
    return path if path.name == STYLE_FILE or path.suffix == ".toml" else path / STYLE_FILE


def load_pack(path: Path, *, load_weights: WeightsLoader | None = None) -> StylePack:
    """Read and validate a pack (its folder or its style.toml); StylePackError lists every
    problem. `load_weights`: also load the weights into this version's network with it (it
    raises when they do not fit), as `reverie styles validate` does; otherwise only their
    files and headers are checked."""
    toml_path = pack_file(path)
    folder = toml_path.parent
    try:
        text = toml_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise StylePackError(
            [StyleError(toml_path, 1, None, f"no {STYLE_FILE} here: a pack is a folder with a {STYLE_FILE}")]
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise StylePackError([StyleError(toml_path, 1, None, f"cannot read: {exc}")]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise StylePackError([_syntax_error(toml_path, text, exc)]) from None
    lines = key_lines(text)
    errors: list[StyleError] = []

    def error(name: str | None, message: str) -> None:
        errors.append(StyleError(toml_path, lines.get(name, 1) if name else 1, name, message))

    values: dict[str, Any] = {}
    for name, value in data.items():
        spec = FIELDS.get(name)
        if spec is None:
            close = difflib.get_close_matches(name, FIELDS, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else f"; known fields: {', '.join(FIELDS)}"
            error(name, f"unknown field{hint}")
            continue
        problem = _check_value(name, spec, value)
        if problem:
            error(name, problem)
        else:
            values[name] = value
    for name, spec in FIELDS.items():
        if spec.required and name not in data:
            error(name, f'required, but missing ({spec.help}): add {name} = "..."')
    if "weights" in values:
        weights = _inside(folder, values["weights"], "weights", error)
        if weights is not None:
            weights = _check_weights(weights, load_weights, lambda m: error("weights", m))
        values["weights"] = weights
    if "thumbnail" in values:
        thumbnail = _inside(folder, values["thumbnail"], "thumbnail", error)
        if thumbnail is not None and (problem := png_problem(thumbnail)):
            error("thumbnail", problem)
        values["thumbnail"] = thumbnail
    if errors:
        raise StylePackError(sorted(errors, key=lambda e: e.line))
    if "strength" in values:
        values["strength"] = float(values["strength"])
    return StylePack(folder=folder.resolve(), **values)


def _inside(folder: Path, relative: str, name: str, error) -> Path | None:
    """`relative` resolved inside the pack, or None (an error said why): a pack is copied
    and shared as a folder, so nothing it names may live outside it."""
    if Path(relative).is_absolute():
        error(name, f"must be a path relative to the pack folder, got the absolute path {relative!r}")
        return None
    root = folder.resolve()
    target = (folder / relative).resolve()
    if target != root and root not in target.parents:
        error(name, f"{relative!r} points outside the pack folder {folder}")
        return None
    if not target.exists():
        error(name, f"{relative!r} does not exist in the pack folder {folder}")
        return None
    return target


def _check_weights(target: Path, load_weights: WeightsLoader | None, error) -> Path | None:
    """The weights folder (a folder, or its model.safetensors), checked: both files there,
    config.json a training config, the safetensors header readable; `load_weights`, when
    given, also loads them."""
    folder = target.parent if target.is_file() else target
    if target.is_file() and target.name != "model.safetensors":
        error(
            f"{target.name!r} is not a weights file: name a folder with {' and '.join(WEIGHT_FILES)}"
            " (as `reverie publish` writes)"
        )
        return None
    missing = [f for f in WEIGHT_FILES if not (folder / f).is_file()]
    if missing:
        error(
            f"{folder.name}/ lacks {' and '.join(missing)}"
            f" (a weights folder holds {' and '.join(WEIGHT_FILES)}, as `reverie publish` writes)"
        )
        return None
    try:
        meta = json.loads((folder / "config.json").read_text())
        if not isinstance(meta, dict) or not isinstance(meta.get("config"), dict):
            raise ValueError("no 'config' table (the training config)")
    except (OSError, ValueError) as exc:
        error(f"{folder.name}/config.json is not a weights config: {exc}")
        return None
    if problem := safetensors_problem(folder / "model.safetensors"):
        error(f"{folder.name}/model.safetensors: {problem}")
        return None
    if load_weights is not None:
        try:
            load_weights(folder)
        except ImportError as exc:
            error(f"cannot check that the weights load: {exc}")
            return None
        except Exception as exc:  # a shape mismatch, a broken config: say what the network said
            detail = " ".join(str(exc).strip().splitlines()[:3])[:400]
            error(f"do not load into this version's network: {type(exc).__name__}: {detail}")
            return None
    return folder


def safetensors_problem(path: Path) -> str | None:
    """Why a file is not a readable safetensors file (header and size), or None; reads
    only its header, so checking a pack never loads its tensors."""
    try:
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                return "too short for a safetensors file"
            (length,) = struct.unpack("<Q", head)
            if length > MAX_SAFETENSORS_HEADER:
                return f"not a safetensors file (header length {length})"
            header = json.loads(f.read(length))
            size = os.fstat(f.fileno()).st_size
    except (OSError, ValueError) as exc:
        return f"not a safetensors file ({exc})"
    if not isinstance(header, dict):
        return "not a safetensors file (header is not a map)"
    end = max(
        (
            t["data_offsets"][1]
            for k, t in header.items()
            if k != "__metadata__"
            and isinstance(t, dict)
            and isinstance(t.get("data_offsets"), list)
            and len(t["data_offsets"]) == 2
        ),
        default=0,
    )
    if 8 + length + end != size:
        return f"truncated or padded: {size} bytes, the header describes {8 + length + end}"
    return None


def png_problem(path: Path) -> str | None:
    """Why a file is not a PNG, or None."""
    try:
        with open(path, "rb") as f:
            head = f.read(24)
    except OSError as exc:
        return f"cannot read: {exc.strerror}"
    if len(head) < 24 or not head.startswith(PNG_SIGNATURE) or head[12:16] != b"IHDR":
        return f"{path.name} is not a PNG image"
    return None


# ---------------------------------------------------------------- where packs live
def user_styles_dir() -> Path:
    """Where `reverie styles install` puts packs and the daemon finds them."""
    return user_data_dir("styles", "REVERIE_STYLES")


def style_dirs(extra: list[Path] | tuple[Path, ...] = (), user: Path | None = None) -> list[Path]:
    """The folders packs are read from, in order: shipped, the user's, then `extra`; a
    later pack replaces an earlier one of the same name."""
    return [SHIPPED_STYLES, user or user_styles_dir(), *(Path(d) for d in extra)]


def pack_folders(directory: Path) -> list[Path]:
    """The packs in a styles folder (its subfolders with a style.toml), or the folder
    itself when it is a pack."""
    directory = Path(directory)
    if (directory / STYLE_FILE).is_file():
        return [directory]
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.is_dir() and (p / STYLE_FILE).is_file())


@dataclass
class Catalog:
    """Every pack found, by name, and every problem met on the way."""

    packs: dict[str, StylePack] = field(default_factory=dict)
    errors: list[StyleError] = field(default_factory=list)


def load_catalog(dirs: list[Path] | tuple[Path, ...], *, load_weights: WeightsLoader | None = None) -> Catalog:
    """Read every pack in `dirs` (see `style_dirs`). A broken pack is reported in
    `errors` and skipped: one bad download must not take every other look away."""
    catalog = Catalog()
    for directory in dirs:
        seen: dict[str, Path] = {}
        for folder in pack_folders(directory):
            try:
                pack = load_pack(folder, load_weights=load_weights)
            except StylePackError as exc:
                catalog.errors.extend(exc.errors)
                continue
            if pack.name in seen:
                toml = folder / STYLE_FILE
                catalog.errors.append(
                    StyleError(
                        toml,
                        key_lines(toml.read_text()).get("name", 1),
                        "name",
                        f"{pack.name!r} is already the name of {seen[pack.name]}",
                    )
                )
                continue
            seen[pack.name] = folder
            catalog.packs[pack.name] = pack
    return catalog


def shipped_packs() -> dict[str, StylePack]:
    """The looks every install has (styles/ in the project)."""
    return load_catalog([SHIPPED_STYLES]).packs


# ---------------------------------------------------------------- writing a pack
def _toml_value(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string
    return repr(value)


def write_pack(
    folder: Path,
    *,
    name: str,
    prompt: str,
    author: str = "",
    steps: int = 2,
    strength: float = 0.8,
    seed: int = 0,
    transition_frames: int = 24,
    weights: Path | None = None,
    thumbnail: Path | None = None,
    overwrite: bool = False,
) -> StylePack:
    """Write a pack into `folder` and return it as read back (so what is written always
    validates). `weights`: a weights folder (model.safetensors + config.json, what
    `reverie publish` and fine-tuning write) or its model.safetensors, copied into
    `folder/weights/`; `thumbnail`: a PNG copied to `folder/thumbnail.png`. An existing
    pack in `folder` is replaced only with `overwrite`. Raises StylePackError for values
    out of range, naming the field."""
    folder = Path(folder)
    toml_path = folder / STYLE_FILE
    if toml_path.exists() and not overwrite:
        raise FileExistsError(f"{toml_path} exists: pass overwrite=True to replace the pack")
    values: dict[str, Any] = {
        "name": name,
        "author": author,
        "prompt": prompt,
        "steps": steps,
        "strength": strength,
        "seed": seed,
        "transition_frames": transition_frames,
    }
    problems = [StyleError(toml_path, 0, k, p) for k, v in values.items() if (p := _check_value(k, FIELDS[k], v))]
    if problems:
        raise StylePackError(problems)
    folder.mkdir(parents=True, exist_ok=True)
    if weights is not None:
        source = Path(weights)
        source = source.parent if source.is_file() else source
        target = folder / "weights"
        if source.resolve() != target.resolve():
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir()
            for f in WEIGHT_FILES:
                shutil.copyfile(source / f, target / f)
        values["weights"] = "weights"
    if thumbnail is not None:
        if Path(thumbnail).resolve() != (folder / "thumbnail.png").resolve():
            shutil.copyfile(thumbnail, folder / "thumbnail.png")
        values["thumbnail"] = "thumbnail.png"
    if not author:
        del values["author"]
    toml_path.write_text("".join(f"{k} = {_toml_value(v)}\n" for k, v in values.items()), encoding="utf-8")
    return load_pack(folder)
