"""The Unity package's files as Unity reads them: the manifest, the assembly definitions,
a .meta beside every asset (a package installed from a git URL is read-only, so Unity
cannot write them), the sample's style packs, and the names the C# code looks shaders up by."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

from reverie.bridge.packs import load_catalog

PLUGIN = Path(__file__).resolve().parents[1] / "unity_plugin"


def load_json(path: Path) -> dict:
    return json.loads(path.read_text())


def make_meta():
    spec = importlib.util.spec_from_file_location("make_meta", PLUGIN / "Tools~" / "make_meta.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_package_manifest():
    manifest = load_json(PLUGIN / "package.json")
    assert re.fullmatch(r"com\.[a-z0-9-]+\.[a-z0-9.-]+", manifest["name"])
    assert re.fullmatch(r"\d+\.\d+\.\d+", manifest["version"])
    assert re.fullmatch(r"20\d\d\.\d|6000\.\d", manifest["unity"])
    for sample in manifest["samples"]:
        assert (PLUGIN / sample["path"]).is_dir(), sample
        assert sample["path"].startswith("Samples~/")


def test_assembly_definitions():
    runtime = load_json(PLUGIN / "Runtime" / "Reverie.Runtime.asmdef")
    editor = load_json(PLUGIN / "Editor" / "Reverie.Editor.asmdef")
    assert runtime["allowUnsafeCode"] is True  # the P/Invoke layer writes through pointers
    urp = [d for d in runtime["versionDefines"] if d["define"] == "REVERIE_URP"]
    assert urp and urp[0]["name"] == "com.unity.render-pipelines.universal"
    assert "Unity.RenderPipelines.Universal.Runtime" in runtime["references"]  # optional: versionDefines guard it
    assert editor["includePlatforms"] == ["Editor"] and editor["references"] == [runtime["name"]]
    urp_only = (PLUGIN / "Runtime" / "ReverieUrpInputs.cs").read_text()
    assert urp_only.lstrip().split("\n")[0].startswith("//") and "#if REVERIE_URP" in urp_only


def test_every_asset_has_a_meta_with_a_unique_guid():
    tool = make_meta()
    guids = {}
    for asset in tool.assets():
        meta = asset.with_name(asset.name + ".meta")
        assert meta.is_file(), f"{meta.relative_to(PLUGIN)} is missing: run python3 unity_plugin/Tools~/make_meta.py"
        guid = re.search(r"^guid: ([0-9a-f]{32})$", meta.read_text(), re.M).group(1)
        assert guid not in guids, f"{asset} and {guids[guid]} share a GUID"
        guids[guid] = asset
    for meta in PLUGIN.rglob("*.meta"):
        if tool.unity_sees(meta):
            assert meta.with_suffix("").exists(), f"{meta.relative_to(PLUGIN)} belongs to no asset"


def test_sample_style_packs_load_as_the_daemon_loads_them():
    catalog = load_catalog([PLUGIN / "Samples~" / "BasicSetup" / "Styles"])
    assert catalog.errors == [] and {"dusk", "ink", "neon", "storybook"} <= set(catalog.packs)


def test_shaders_are_found_by_the_names_the_code_uses():
    names = {
        re.search(r'^Shader "([^"]+)"', p.read_text(), re.M).group(1)
        for p in (PLUGIN / "Runtime" / "Shaders").glob("*.shader")
    }
    used = set(re.findall(r'Shader\.Find\("([^"]+)"\)', (PLUGIN / "Runtime" / "ReverieCamera.cs").read_text()))
    assert used and used <= names
    capture = (PLUGIN / "Runtime" / "Shaders" / "ReverieCapture.shader").read_text()
    assert capture.count("#pragma fragment") == 3  # color, depth, motion: the pass indices ReverieFrameCapture uses


def _rows_shown_top_down(image_rows_top_down: list[str]) -> list[str]:
    """What the Unity camera shows, top of the screen first, for an output plane whose rows
    (top of the image first) are given: the C# copy into the Texture2D (as
    ReverieCamera.ShowNewestOutput asks the library for it), then the present shader's v."""
    camera = (PLUGIN / "Runtime" / "ReverieCamera.cs").read_text()
    show = camera[camera.index("void ShowNewestOutput") :]
    show = show[: show.index("\n        }\n")]
    flags = re.findall(r"CopyFlags\.(\w+), out info\)", show)
    assert len(flags) == 2, flags  # the size probe, then the copy into the texture
    texture_rows = image_rows_top_down[::-1] if flags[1] == "RowsBottomUp" else list(image_rows_top_down)
    # texture_rows[0] is what Unity samples at v = 0, the bottom of the texture.
    shader = (PLUGIN / "Runtime" / "Shaders" / "ReveriePresent.shader").read_text()
    (uv,) = re.findall(r"o\.uv = ([^;]+);", shader)
    flips_v = "1.0-v.texcoord.y" in uv.replace(" ", "")
    assert flips_v or uv.strip() == "v.texcoord", uv
    # A blit draws texture v = 1 (or 0 when the shader flips) at the top of the screen.
    top_first = texture_rows[::-1]
    return top_first[::-1] if flips_v else top_first


def test_the_stylized_frame_is_shown_upright():
    """One flip between the output plane and the screen, not two: an asymmetric image (a sky
    row above a ground row above a shadow row) comes out in the same order."""
    assert _rows_shown_top_down(["sky", "ground", "shadow"]) == ["sky", "ground", "shadow"]
