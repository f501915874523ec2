"""`reverie styles list | validate | preview | install`: style packs from the command line.

The pack format and its checks live in `styles.py`; this file only turns them into
commands. `preview` renders through the model, loaded by name only when it runs (the
bridge never imports the model otherwise), as `load_stylizer("model")` does.
"""

from __future__ import annotations

import argparse
import importlib
import json
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

from reverie.bridge import packs as S


def register(commands: argparse._SubParsersAction) -> None:
    styles = commands.add_parser("styles", help="style packs: list, validate, preview, install")
    actions = styles.add_subparsers(dest="styles_command", required=True, metavar="ACTION")

    listing = actions.add_parser("list", help="every pack the daemon would load, and where it comes from")
    listing.add_argument(
        "--dir", type=Path, help="the user styles folder (default: $REVERIE_STYLES or ~/.local/share/reverie/styles)"
    )
    listing.add_argument("--json", action="store_true", help="one JSON object per pack")
    listing.set_defaults(func=cmd_list)

    validate = actions.add_parser(
        "validate", help="check packs; prints every error (file:line: field ...), exits 1 on any"
    )
    validate.add_argument(
        "paths", type=Path, nargs="+", metavar="PATH", help="a pack folder, its style.toml, or a folder of packs"
    )
    validate.add_argument(
        "--quick", action="store_true", help="check the weights' files only, without loading them into the network"
    )
    validate.set_defaults(func=cmd_validate)

    preview = actions.add_parser(
        "preview", help="render the synthetic world with a pack's look into a PNG (its thumbnail)"
    )
    preview.add_argument("pack", help="a pack folder, or the name of an installed or shipped pack")
    preview.add_argument("--out", type=Path, required=True, help="the PNG to write (e.g. PACK/thumbnail.png)")
    preview.add_argument("--size", default="256x256", help="WxH (default 256x256)")
    preview.add_argument(
        "--frames", type=int, default=8, help="frames of the walk to stylize; the last is written (default 8)"
    )
    preview.add_argument("--dir", type=Path, help="the user styles folder to find PACK by name in")
    preview.set_defaults(func=cmd_preview)

    install = actions.add_parser("install", help="validate a pack (folder or .zip) and copy it into the styles folder")
    install.add_argument("source", type=Path, metavar="PACK_DIR|ZIP")
    install.add_argument(
        "--dir",
        type=Path,
        help="the styles folder to install into (default: $REVERIE_STYLES or ~/.local/share/reverie/styles)",
    )
    install.add_argument("--force", action="store_true", help="replace an installed pack of the same name")
    install.set_defaults(func=cmd_install)


def network_loader() -> S.WeightsLoader:
    """The model's own weights loader, for a deep check (imports torch: only when asked)."""
    from reverie.model.weights import load_model

    return load_model


def _say_errors(errors: list[S.StyleError]) -> None:
    for error in errors:
        print(error, file=sys.stderr)


def cmd_list(args: argparse.Namespace) -> int:
    user = args.dir or S.user_styles_dir()
    catalog = S.load_catalog(S.style_dirs(user=user))
    for pack in sorted(catalog.packs.values(), key=lambda p: p.name):
        source = "shipped" if pack.folder.parent == S.SHIPPED_STYLES.resolve() else str(pack.folder)
        if args.json:
            print(json.dumps({**pack.describe(), "folder": str(pack.folder), "shipped": source == "shipped"}))
            continue
        extras = [f"by {pack.author}"] if pack.author else []
        extras += ["fine-tuned weights"] if pack.weights else []
        extras += ["thumbnail"] if pack.thumbnail else []
        print(f"{pack.name:<14} {pack.prompt!r}")
        print(
            f"{'':<14} steps {pack.steps}  strength {pack.strength}  seed {pack.seed}"
            f"  transition {pack.transition_frames}"
            f"  {'  '.join(extras)}  [{source}]"
        )
    if not catalog.packs:
        print("no style packs found")
    _say_errors(catalog.errors)
    if not args.json:
        print(f"styles folders: {S.SHIPPED_STYLES} (shipped), {user}")
    return 1 if catalog.errors else 0


def cmd_validate(args: argparse.Namespace) -> int:
    failed = checked = 0
    for path in args.paths:
        folders = [path.parent] if path.suffix == ".toml" else S.pack_folders(path)
        if not folders:
            print(f"{path}: no style pack here (a pack is a folder with a {S.STYLE_FILE})", file=sys.stderr)
            failed += 1
            continue
        for folder in folders:
            checked += 1
            try:
                pack = S.load_pack(
                    folder if path.suffix != ".toml" else path, load_weights=None if args.quick else network_loader()
                )
            except S.StylePackError as exc:
                _say_errors(exc.errors)
                failed += 1
                continue
            print(f"{folder}: ok ({pack.name}{', fine-tuned weights' if pack.weights else ''})")
    print(
        f"{checked - failed if checked >= failed else 0} of {checked} pack(s) valid"
        if failed
        else f"{checked} pack(s) valid"
    )
    return 1 if failed else 0


def _find_pack(spec: str, user: Path | None) -> S.StylePack:
    """A pack by folder, or by name among the installed and shipped ones."""
    path = Path(spec)
    if (S.pack_file(path)).is_file():
        return S.load_pack(path)
    catalog = S.load_catalog(S.style_dirs(user=user))
    if spec in catalog.packs:
        return catalog.packs[spec]
    raise S.StylePackError(
        [
            S.StyleError(
                path,
                0,
                None,
                f"no pack folder here and no pack named {spec!r}; known: {', '.join(sorted(catalog.packs))}",
            )
        ]
    )


def cmd_preview(args: argparse.Namespace) -> int:
    try:
        width, height = (int(v) for v in args.size.lower().split("x"))
        pack = _find_pack(args.pack, args.dir)
    except ValueError as exc:
        errors = exc.errors if isinstance(exc, S.StylePackError) else None
        _say_errors(errors) if errors else print(
            f"reverie styles preview: --size WxH, got {args.size!r}", file=sys.stderr
        )
        return 1
    preview = importlib.import_module("reverie.model.preview")  # the model, only for this command
    preview.render_preview(pack, args.out, width, height, frames=args.frames)
    print(f"{args.out}: {pack.name} ({width}x{height}, frame {args.frames} of the walk)")
    return 0


def cmd_install(args: argparse.Namespace) -> int:
    target_root = args.dir or S.user_styles_dir()
    with tempfile.TemporaryDirectory() as tmp:
        source = args.source
        if source.is_file() and zipfile.is_zipfile(source):
            source = _unzip(source, Path(tmp))
            if source is None:
                print(f"{args.source}: no {S.STYLE_FILE} in this zip (at its top or in one folder)", file=sys.stderr)
                return 1
        try:
            pack = S.load_pack(source, load_weights=network_loader())
        except S.StylePackError as exc:
            _say_errors(exc.errors)
            print(f"{args.source}: not installed", file=sys.stderr)
            return 1
        target = target_root / pack.name
        if target.exists() and not args.force:
            print(f"{target} exists: pass --force to replace the installed {pack.name!r}", file=sys.stderr)
            return 1
        target_root.mkdir(parents=True, exist_ok=True)
        staging = Path(
            tempfile.mkdtemp(prefix=f".{pack.name}-", dir=target_root)
        )  # same file system: the swap is a rename
        shutil.rmtree(staging)
        shutil.copytree(pack.folder, staging, symlinks=False)
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    print(f"installed {pack.name!r} into {target}")
    return 0


def _unzip(archive: Path, into: Path) -> Path | None:
    """Extract a zip safely (no member outside `into`) and return the pack folder in it."""
    with zipfile.ZipFile(archive) as z:
        for member in z.namelist():
            destination = (into / member).resolve()
            if destination != into.resolve() and into.resolve() not in destination.parents:
                print(f"{archive}: member {member!r} points outside the archive", file=sys.stderr)
                return None
        z.extractall(into)
    if (into / S.STYLE_FILE).is_file():
        return into
    found = [p.parent for p in into.glob(f"*/{S.STYLE_FILE}")]
    return found[0] if len(found) == 1 else None
