"""Writes the .meta file Unity needs beside every asset of the package (a package installed
from a git URL is read-only, so Unity cannot create them; assets without one are ignored).
GUIDs come from the package name and the path, so a re-run gives the same ones; existing
.meta files are never touched. Folders and files Unity skips (names ending in "~", hidden
names) get none. Run after adding a file: python3 unity_plugin/Tools~/make_meta.py"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]
NAME = "com.reverie.stream"

TAIL = "  externalObjects: {{}}\n{extra}  userData: \n  assetBundleName: \n  assetBundleVariant: \n"
IMPORTERS = {
    ".cs": ("MonoImporter", "  serializedVersion: 2\n  defaultReferences: []\n  executionOrder: 0\n  icon: {instanceID: 0}\n"),
    ".shader": ("ShaderImporter", "  defaultTextures: []\n  nonModifiableTextures: []\n"),
    ".asmdef": ("AssemblyDefinitionImporter", ""),
    ".md": ("TextScriptImporter", ""),
    ".json": ("PackageManifestImporter", ""),
}


def unity_sees(path: Path) -> bool:
    """Unity imports neither hidden names nor anything under a folder ending in '~'."""
    parts = path.relative_to(PACKAGE).parts
    return not any(p.startswith(".") or p.endswith("~") for p in parts)


def assets() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*") if unity_sees(p) and p.suffix != ".meta"
                  and not (p.is_file() and p.suffix in {".so", ".dll", ".dylib"}))  # built, not committed


def meta_text(path: Path) -> str:
    guid = hashlib.md5(f"{NAME}/{path.relative_to(PACKAGE).as_posix()}".encode()).hexdigest()
    head = f"fileFormatVersion: 2\nguid: {guid}\n"
    if path.is_dir():
        return head + "folderAsset: yes\nDefaultImporter:\n" + TAIL.format(extra="")
    importer, extra = IMPORTERS.get(path.suffix, ("DefaultImporter", ""))
    return head + f"{importer}:\n" + TAIL.format(extra=extra)


def main() -> int:
    written = 0
    for path in assets():
        meta = path.with_name(path.name + ".meta")
        if not meta.exists():
            meta.write_text(meta_text(path))
            written += 1
            print(meta.relative_to(PACKAGE))
    print(f"{written} .meta files written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
