"""The Unreal plugin's files that can be checked without the engine: build_native.sh
vendors libreverie (headers identical to bridge/native's, the library under its soname),
the library exports every function the plugin calls, the descriptor and module layout
agree, the shader path resolves, and the README names every console command the source
registers. The engine-side C++ itself compiles only inside Unreal (see the plugin README)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PLUGIN_SRC = ROOT / "unreal_plugin" / "Reverie"
SCRIPT = ROOT / "unreal_plugin" / "build_native.sh"
NATIVE_INCLUDE = ROOT / "bridge" / "native" / "include"
MODULE_DIR = PLUGIN_SRC / "Source" / "Reverie"


def plugin_sources() -> list[Path]:
    return sorted(p for p in MODULE_DIR.rglob("*") if p.suffix in {".h", ".cpp"})


@pytest.fixture(scope="module")
def vendored(tmp_path_factory) -> Path:
    """A copy of the plugin, filled by build_native.sh as a user's project copy would be."""
    if shutil.which("cmake") is None or shutil.which("readelf") is None:
        pytest.skip("needs cmake and readelf")
    base = tmp_path_factory.mktemp("unreal-plugin")
    plugin = base / "Reverie"
    shutil.copytree(
        PLUGIN_SRC, plugin, ignore=shutil.ignore_patterns("include", "Linux", "Win64", "Binaries", "Intermediate")
    )
    run = subprocess.run(
        ["nice", "-n", "10", str(SCRIPT), "--plugin", str(plugin), "--build-dir", str(base / "build")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    return plugin / "Source" / "ThirdParty" / "ReverieLibrary"


def test_build_native_vendors_headers_and_library(vendored):
    for name in ("reverie.h", "reverie.hpp"):
        assert (vendored / "include" / name).read_bytes() == (NATIVE_INCLUDE / name).read_bytes(), name
    library = vendored / "Linux" / "libreverie.so"
    dynamic = subprocess.run(["readelf", "-d", str(library)], capture_output=True, text=True, check=True).stdout
    soname = re.search(r"\(SONAME\).*\[(.+)\]", dynamic).group(1)
    # The loader asks for the soname: it must sit next to the link-time name, as a file.
    assert (vendored / "Linux" / soname).read_bytes() == library.read_bytes()
    assert not (vendored / "Linux" / soname).is_symlink()


def test_library_exports_every_function_the_plugin_calls(vendored):
    symbols = subprocess.run(
        ["nm", "-D", "--defined-only", str(vendored / "Linux" / "libreverie.so")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    exported = {s for s in symbols if s.startswith("reverie_")}
    called = set()
    for source in plugin_sources():
        called |= set(re.findall(r"\b(reverie_[a-z_]+)\s*\(", source.read_text()))
    assert called, "the plugin calls no libreverie function?"
    assert called <= exported, f"not exported by libreverie: {sorted(called - exported)}"


def test_build_native_refuses_a_folder_that_is_not_the_plugin(tmp_path):
    run = subprocess.run([str(SCRIPT), "--plugin", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and "no Reverie.uplugin" in run.stderr


def test_reverie_h_is_included_once_and_its_macros_cannot_collide_with_the_engines():
    """UnrealBuildTool defines <MODULE>_API for every module (REVERIE_API for this one):
    reverie.h defines no macro of that form. Only ReverieCApi.h includes it."""
    includers = [p.name for p in plugin_sources() if re.search(r'#include\s+"reverie\.h"', p.read_text())]
    assert includers == ["ReverieCApi.h"], includers
    header = (NATIVE_INCLUDE / "reverie.h").read_text()
    macros = re.findall(r"^#\s*define\s+(\w+)", header, re.M)
    assert "LIBREVERIE_EXPORT" in macros
    assert not [m for m in macros if m.endswith("_API")], macros


def test_descriptor_modules_and_shader_path_agree():
    descriptor = json.loads((PLUGIN_SRC / "Reverie.uplugin").read_text())
    (module,) = descriptor["Modules"]
    assert module["Name"] == "Reverie" and module["Type"] == "Runtime"
    # Global shaders must be registered before the engine compiles its global shader map.
    assert module["LoadingPhase"] == "PostConfigInit"
    assert (MODULE_DIR / "Reverie.Build.cs").is_file()
    assert "class Reverie : ModuleRules" in (MODULE_DIR / "Reverie.Build.cs").read_text()
    third_party = PLUGIN_SRC / "Source" / "ThirdParty" / "ReverieLibrary" / "ReverieLibrary.Build.cs"
    assert "ModuleType.External" in third_party.read_text()
    assert '"ReverieLibrary"' in (MODULE_DIR / "Reverie.Build.cs").read_text()

    # IMPLEMENT_GLOBAL_SHADER(..., "/Plugin/Reverie/<path>", "<entry>", SF_Compute) and the
    # mapping of /Plugin/Reverie to the plugin's Shaders folder must land on a real entry point.
    shader_cpp = (MODULE_DIR / "Private" / "ReverieCaptureShader.cpp").read_text()
    virtual_path, entry = re.search(
        r'IMPLEMENT_GLOBAL_SHADER\(\w+,\s*"/Plugin/Reverie/([^"]+)",\s*"(\w+)"', shader_cpp
    ).groups()
    assert (
        'AddShaderSourceDirectoryMapping(TEXT("/Plugin/Reverie")'
        in (MODULE_DIR / "Private" / "ReverieModule.cpp").read_text()
    )
    usf = PLUGIN_SRC / "Shaders" / virtual_path
    assert usf.is_file(), usf
    assert re.search(rf"void\s+{entry}\s*\(", usf.read_text())
    # Every shader parameter the C++ declares is declared in the shader, and vice versa.
    header = (MODULE_DIR / "Private" / "ReverieCaptureShader.h").read_text()
    cpp_params = set(re.findall(r"SHADER_PARAMETER\w*\([^,]+(?:<[^>]*>)?,\s*(\w+)\)", header))
    usf_params = set(re.findall(r"^(?:RW)?(?:Texture2D|int2|float2)(?:<\w+>)?\s+(\w+);", usf.read_text(), re.M))
    assert cpp_params == usf_params, (cpp_params, usf_params)


def test_readme_names_every_console_command():
    registered = set()
    for source in plugin_sources():
        registered |= set(
            re.findall(
                r'(?:FAutoConsoleCommand|TAutoConsoleVariable<\w+>)\s+\w+\(\s*TEXT\("(Reverie\.\w+)"',
                source.read_text(),
            )
        )
    assert {"Reverie.Prompt", "Reverie.Enable", "Reverie.Steps", "Reverie.Strength", "Reverie.Console"} <= registered
    readme = (ROOT / "unreal_plugin" / "README.md").read_text()
    missing = sorted(name for name in registered if name not in readme)
    assert not missing, f"README does not mention {missing}"
