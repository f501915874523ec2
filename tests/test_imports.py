"""The house's structure, read from the imports of every module (lazy ones included):
the packages point one way, serving never stands on training, and no module imports
itself around a circle."""

from __future__ import annotations

import ast
from functools import cache, lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Folder -> import name (pyproject.toml's package-dir).
PACKAGES = {
    "common": "reverie.common",
    "bridge": "reverie.bridge",
    "model": "reverie.model",
    "modding": "reverie.modding",
    "demos": "reverie.demos",
    "reverie": "reverie",
}
# What each package may import besides itself. The roof (`reverie`) assembles the rest.
ALLOWED = {
    "reverie.common": set(),
    "reverie.bridge": {"reverie.common"},
    "reverie.model": {"reverie.common"},
    "reverie.modding": {"reverie.common", "reverie.bridge", "reverie.model"},
    "reverie.demos": {"reverie.common", "reverie.bridge", "reverie.model", "reverie.modding"},
    "reverie": {"reverie.common", "reverie.bridge", "reverie.model", "reverie.modding", "reverie.demos"},
}
# The model's training side, and the modules that serve frames.
TRAINING = {
    "reverie.model.train",
    "reverie.model.adversarial",
    "reverie.model.ablation",
    "reverie.model.finetune",
    "reverie.model.pairs",
    "reverie.model.augment",
}
SERVING = [
    "reverie.model.stylize",
    "reverie.model.stream",
    "reverie.model.weights",
    "reverie.model.backends",
    "reverie.model.backends.ort_backend",
    "reverie.model.backends.ov_backend",
    "reverie.model.backends.torch_backend",
    "reverie.model.backends.trt_backend",
]


@lru_cache(maxsize=1)
def modules() -> dict[str, Path]:
    found = {}
    for folder, name in PACKAGES.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join([name, *parts])] = path
    return found


def package_of(module: str) -> str:
    """The top-level package a module belongs to (the longest matching import name)."""
    return max((p for p in PACKAGES.values() if module == p or module.startswith(p + ".")), key=len)


def _resolve(module: str, path: Path, level: int, target: str | None) -> str:
    base = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    base = base[: len(base) - (level - 1)] if level > 1 else base
    return ".".join(base + ([target] if target else []))


@cache
def imports(module: str) -> frozenset[str]:
    """The project modules `module` imports, anywhere in its file."""
    path, known = modules()[module], modules()
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            origin = _resolve(module, path, node.level, node.module) if node.level else (node.module or "")
            names = [f"{origin}.{alias.name}" if f"{origin}.{alias.name}" in known else origin for alias in node.names]
        else:
            continue
        for name in names:
            while name and name not in known:  # `import a.b.c` where c is not a module
                name = name.rpartition(".")[0]
            if name and name != module:
                found.add(name)
    return frozenset(found)


def test_the_modules_are_found():
    found = modules()
    for expected in (
        "reverie.bridge.daemon.frame_loop",
        "reverie.model.stylize",
        "reverie.modding.replay",
        "reverie.common.stylizer",
        "reverie.cli",
    ):
        assert expected in found
    assert "reverie.bridge.daemon" in imports("reverie.bridge")
    assert "reverie.bridge.protocol" in imports("reverie.bridge.daemon.sessions")  # from .. import protocol


def test_packages_import_only_in_the_allowed_directions():
    wrong = sorted(
        f"{m} imports {t}"
        for m in modules()
        for t in imports(m)
        if package_of(t) != package_of(m) and package_of(t) not in ALLOWED[package_of(m)]
    )
    assert not wrong, "\n".join(wrong)


def test_serving_never_imports_training():
    for start in SERVING:
        if start not in modules():
            continue
        seen, todo = set(), [start]
        while todo:
            module = todo.pop()
            if module in seen:
                continue
            seen.add(module)
            todo.extend(imports(module))
        assert not seen & TRAINING, f"{start} reaches {sorted(seen & TRAINING)}"


def test_no_import_circles():
    """Tarjan's strongly connected components over the whole import graph."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in imports(module):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for module in modules():
        if module not in index:
            visit(module)
    assert not circles, circles


def test_the_check_sees_a_forbidden_import(tmp_path, monkeypatch):
    """The rules are not vacuous: a bridge module that imported the model would be caught."""
    fake = tmp_path / "bad.py"
    fake.write_text("from reverie.model import stylize\nfrom . import protocol\n")
    monkeypatch.setitem(modules(), "reverie.bridge.bad", fake)
    try:
        assert imports("reverie.bridge.bad") == {"reverie.model.stylize", "reverie.bridge.protocol"}
        assert package_of("reverie.model.stylize") not in ALLOWED[package_of("reverie.bridge.bad")]
    finally:
        imports.cache_clear()
