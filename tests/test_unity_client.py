"""The Unity package's engine-independent C# (the P/Invoke layer, ReverieClient, the steering
worker, the conventions math) compiled with mono's mcs and run with mono against a real
daemon and the real libreverie. The MonoBehaviours and shaders need Unity and are not run here."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from conftest import stylizer_spec
from native_build import build_libreverie

from reverie.bridge.local_daemon import discard_endpoints, private_endpoints

REPO = Path(__file__).resolve().parents[1]
PLUGIN = REPO / "unity_plugin"
HEADER_DIR = REPO / "bridge" / "native" / "include"
# The Runtime files that must stay free of UnityEngine (everything the engine code builds on).
ENGINE_FREE = ["ReverieNative.cs", "ReverieClient.cs", "ReverieConventions.cs", "ReverieSteering.cs"]


@pytest.fixture(scope="module")
def client_test(tmp_path_factory) -> Path:
    """ClientTest.exe: the engine-free Runtime files plus the test program, C# 7.2, warnings as errors."""
    out = tmp_path_factory.mktemp("unity-cs") / "ClientTest.exe"
    sources = [PLUGIN / "Runtime" / name for name in ENGINE_FREE] + sorted((PLUGIN / "Tests~").glob("*.cs"))
    cmd = ["mcs", "-unsafe", "-langversion:7.2", "-warnaserror+", f"-out:{out}", *map(str, sources)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


@pytest.fixture(scope="module")
def library_dir(tmp_path_factory) -> Path:
    """A plugin folder as Unity gets it: unity_plugin/build_native.sh copies the real
    libreverie.so out of the session's CMake build (built once, see tests/native_build.py)."""
    dest = tmp_path_factory.mktemp("Plugins") / "x86_64"
    env = dict(os.environ, REVERIE_BUILD_DIR=str(build_libreverie()))
    proc = subprocess.run(
        ["bash", str(PLUGIN / "build_native.sh"), str(dest)], capture_output=True, text=True, timeout=300, env=env
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    library = dest / "libreverie.so"
    assert library.is_file() and not library.is_symlink()
    return dest


def run_mono(
    exe: Path, *args: str, library_dir: Path | None = None, timeout: float = 90
) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if library_dir is not None:  # DllImport("reverie") resolves to libreverie.so on the loader path
        env["LD_LIBRARY_PATH"] = os.pathsep.join(filter(None, [str(library_dir), env.get("LD_LIBRARY_PATH")]))
    return subprocess.run(
        ["mono", "--debug", str(exe), *args], capture_output=True, text=True, timeout=timeout, env=env
    )


def passed(proc: subprocess.CompletedProcess, name: str) -> int:
    """The number of checks, after asserting that the program ran them all without a failure."""
    output = proc.stdout + proc.stderr
    match = re.search(rf"^{name}: (\d+) checks passed, (\d+) failed$", proc.stdout, re.M)
    assert proc.returncode == 0 and match and match.group(2) == "0", output
    return int(match.group(1))


def test_engine_free_files_do_not_use_unityengine():
    for name in ENGINE_FREE:
        code = (PLUGIN / "Runtime" / name).read_text()
        assert not re.search(r"^\s*using\s+Unity|\bUnityEngine\.\w|\bUnity\.Collections", code, re.M), name


def test_struct_layouts_enums_and_constants_match_the_header(client_test, tmp_path):
    """Every struct's size and field offsets, every enum value and the shared constants,
    from gcc on reverie.h against the C# mirrors under mono."""
    layout = tmp_path / "layout"
    subprocess.run(
        [
            "gcc",
            "-std=c11",
            "-Wall",
            "-Werror",
            f"-I{HEADER_DIR}",
            str(PLUGIN / "Tests~" / "layout.c"),
            "-o",
            str(layout),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    c_lines = subprocess.run([str(layout)], check=True, capture_output=True, text=True).stdout.splitlines()
    proc = run_mono(client_test, "layout")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    cs_lines = proc.stdout.splitlines()

    def structs(lines):
        """[(size, [offsets...], [names...])] in order of appearance."""
        found = []
        for line in lines:
            kind, *rest = line.split()
            if kind == "struct":
                found.append((int(rest[1]), [], [], rest[0]))
            elif kind == "field":
                found[-1][1].append(int(rest[1]))
                found[-1][2].append(rest[2])
        return found

    c_structs, cs_structs = structs(c_lines), structs(cs_lines)
    assert len(c_structs) == len(cs_structs) == 8
    for (c_size, c_offsets, c_names, c_name), (cs_size, cs_offsets, cs_names, cs_name) in zip(c_structs, cs_structs):
        assert (cs_size, cs_offsets) == (c_size, c_offsets), (
            f"{cs_name} != {c_name}: {list(zip(cs_names, cs_offsets))} vs {list(zip(c_names, c_offsets))}"
        )
    rest = lambda lines: sorted(line for line in lines if line.startswith(("enum ", "const ")))  # noqa: E731
    assert rest(cs_lines) == rest(c_lines)


def test_every_header_function_has_one_dllimport():
    header = (HEADER_DIR / "reverie.h").read_text()
    declared = set(re.findall(r"^LIBREVERIE_EXPORT\b[^(]*?\b(reverie_\w+)\(", header, re.M))
    native = (PLUGIN / "Runtime" / "ReverieNative.cs").read_text()
    imported = re.findall(r"\[DllImport\(Library, CallingConvention = Cdecl\)\][^(]*?\b(reverie_\w+)\(", native)
    assert len(declared) >= 20
    assert sorted(imported) == sorted(declared)


def test_conventions_math(client_test):
    assert passed(run_mono(client_test, "conventions"), "conventions") >= 50


def test_frames_round_trip_byte_exact_through_every_submit_path(client_test, library_dir, start_daemon, endpoints):
    """120 frames (zero copy, managed copy, bottom-up rows, padded strides; a size change;
    reset flags; a prompt set by call and one by console line) each checked byte for byte
    against the Echo stylizer's transform."""
    start_daemon(stylizer_spec("Echo"))
    proc = run_mono(client_test, "roundtrip", endpoints.control, library_dir=library_dir)
    assert passed(proc, "roundtrip") >= 600
    assert "120/120 frames byte-exact" in proc.stdout


def test_prompts_params_presets_status_events_and_console(client_test, library_dir, start_daemon, endpoints):
    start_daemon(stylizer_spec("Echo"))
    assert passed(run_mono(client_test, "steer", endpoints.control, library_dir=library_dir), "steer") >= 30


def test_bad_arguments_give_error_codes_and_the_daemon_keeps_serving(client_test, library_dir, start_daemon, endpoints):
    start_daemon(stylizer_spec("Mix"))
    nobody = private_endpoints()  # a control socket no daemon serves
    try:
        proc = run_mono(client_test, "errors", endpoints.control, nobody.control, library_dir=library_dir)
    finally:
        discard_endpoints(nobody)
    assert passed(proc, "errors") >= 30
