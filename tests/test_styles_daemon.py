"""Style packs end to end: `reverie styles list | validate | install` as a user runs them,
and the daemon loading packs over control: prompt and settings take effect, a pack with
weights switches the model stylizer to them (outputs as the same weights give in
process), a pack whose weights do not load is refused while the old look keeps serving."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import stylizer_spec
from model_fixtures import save_tiny_weights, stylize_all, world_frames

from reverie.bridge import Client, ControlClient, ReverieError
from reverie.bridge import packs as S
from reverie.modding.packs_cli import network_loader

NEON = (
    'name = "neon"\nauthor = "A. Modder"\nprompt = "neon city at night"\n'
    "steps = 3\nstrength = 0.5\nseed = 7\ntransition_frames = 0\n"
)


def reverie(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "reverie", "styles", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def make_pack(root: Path, name: str, text: str) -> Path:
    (root / name).mkdir(parents=True, exist_ok=True)
    (root / name / "style.toml").write_text(text)
    return root / name


def test_validate_prints_every_error_and_fails(tmp_path):
    good = make_pack(tmp_path, "neon", NEON)
    bad = make_pack(tmp_path, "bad", NEON.replace("steps = 3", "steps = 12").replace("seed = 7", "sed = 7"))
    result = reverie("validate", str(good), str(bad))
    assert result.returncode == 1
    assert f"{bad}/style.toml:4: field 'steps': must be 1..8, got 12" in result.stderr
    assert f"{bad}/style.toml:6: field 'sed': unknown field; did you mean 'seed'?" in result.stderr
    assert f"{good}: ok (neon)" in result.stdout
    ok = reverie("validate", str(good), "styles")
    assert ok.returncode == 0 and "6 pack(s) valid" in ok.stdout, ok.stdout + ok.stderr


def test_install_validates_copies_and_refuses_overwrite(tmp_path):
    user = tmp_path / "user"
    source = make_pack(tmp_path / "src", "neon", NEON + 'weights = "weights"\n')
    save_tiny_weights(source / "weights")
    result = reverie("install", str(source), "--dir", str(user))
    assert result.returncode == 0, result.stderr
    assert S.load_pack(user / "neon", load_weights=network_loader()).weights == (user / "neon" / "weights").resolve()
    again = reverie("install", str(source), "--dir", str(user))
    assert again.returncode == 1 and "pass --force" in again.stderr
    assert reverie("install", str(source), "--dir", str(user), "--force").returncode == 0
    # a zip with the pack in one folder; a broken pack is not installed
    archive = tmp_path / "ink.zip"
    ink = make_pack(tmp_path / "zipsrc", "ink", NEON.replace('"neon"', '"ink"'))
    with zipfile.ZipFile(archive, "w") as z:
        z.write(ink / "style.toml", "ink/style.toml")
    assert reverie("install", str(archive), env={"REVERIE_STYLES": str(user)}).returncode == 0
    broken = make_pack(tmp_path / "src", "broken", NEON.replace('"neon"', '"broken"') + 'weights = "../neon"\n')
    refused = reverie("install", str(broken), "--dir", str(user))
    assert (
        refused.returncode == 1
        and "style.toml:8: field 'weights': '../neon' points outside the pack folder" in refused.stderr
    )
    assert not (user / "broken").exists()
    listing = reverie("list", "--json", "--dir", str(user))
    packs = {p["name"]: p for p in map(json.loads, listing.stdout.splitlines())}
    assert {"anime", "oil", "neon", "ink"} <= set(packs) and packs["neon"]["has_weights"] and packs["anime"]["shipped"]
    human = reverie("list", "--dir", str(user)).stdout
    assert "by A. Modder  fine-tuned weights" in human and f"[{user / 'neon'}]" in human


def test_daemon_loads_a_pack_over_control(start_daemon, endpoints, tmp_path):
    make_pack(tmp_path / "packs", "neon", NEON)
    start_daemon(stylizer_spec("Echo"), ["--styles", str(tmp_path / "packs")])
    with ControlClient(endpoints.control) as ctl:
        listed = {p["name"]: p for p in ctl.list_presets()}
        assert {"anime", "winter", "neon"} <= set(listed)
        assert listed["neon"] == {
            "name": "neon",
            "prompt": "neon city at night",
            "steps": 3,
            "strength": 0.5,
            "seed": 7,
            "transition_frames": 0,
            "author": "A. Modder",
            "has_weights": False,
            "has_thumbnail": False,
        }
        assert ctl.load_preset("neon")["author"] == "A. Modder"
        status = ctl.status()
        assert status["settings"] == {
            "prompt": "neon city at night",
            "transition_frames": 0,
            "steps": 3,
            "strength": 0.5,
            "seed": 7,
        }
        assert status["preset"] == "neon" and status["weights"] is None
        # a pack installed while the daemon runs is found without a restart
        make_pack(tmp_path / "packs", "ink", NEON.replace('"neon"', '"ink"').replace("seed = 7", "seed = 9"))
        ctl.load_preset("ink")
        assert ctl.status()["settings"]["seed"] == 9
        weighted = make_pack(tmp_path / "packs", "heavy", NEON.replace('"neon"', '"heavy"') + 'weights = "w"\n')
        save_tiny_weights(weighted / "w")
        with pytest.raises(ReverieError, match="cannot load weights"):
            ctl.load_preset("heavy")  # a stylizer without weights support says so
        assert ctl.status()["preset"] == "ink"


@pytest.mark.slow
def test_a_pack_with_weights_switches_the_model_and_a_broken_one_is_refused(start_daemon, endpoints, tmp_path):
    from reverie.model.stylize import ModelStylizer
    from reverie.model.text import runtime_embedder

    own, packs = save_tiny_weights(tmp_path / "own", seed=0), tmp_path / "packs"
    tuned = make_pack(
        packs,
        "tuned",
        NEON.replace('"neon"', '"tuned"')
        .replace("neon city at night", "oil painting")
        .replace("steps = 3", "steps = 1")
        .replace("strength = 0.5", "strength = 1.0")
        + 'weights = "weights"\n',
    )
    save_tiny_weights(tuned / "weights", seed=1)
    broken = make_pack(packs, "broken", NEON.replace('"neon"', '"broken"') + 'weights = "weights"\n')
    save_tiny_weights(broken / "weights", seed=2)
    meta = json.loads((broken / "weights" / "config.json").read_text())
    meta["config"]["network"]["widths"] = [8, 16]  # passes the header check, fails to load into the network
    (broken / "weights" / "config.json").write_text(json.dumps(meta))
    make_pack(
        packs,
        "plain",
        NEON.replace('"neon"', '"plain"')
        .replace("neon city at night", "oil painting")
        .replace("steps = 3", "steps = 1")
        .replace("strength = 0.5", "strength = 1.0"),
    )
    start_daemon(
        "model", ["--weights", str(own), "--styles", str(packs), "--backend", "onnxruntime"]
    )  # as `expected` runs
    frames = world_frames("walk", 4)
    encoder = runtime_embedder()

    def stream(game: Client) -> list[np.ndarray]:
        outputs = []
        for i, f in enumerate(frames):
            frame_id = game.submit(f.color, f.depth, f.motion, reset=(i == 0))
            outputs.append(game.wait_output(frame_id, timeout_s=60.0).image)
        return outputs

    def expected(weights: Path) -> list[np.ndarray]:
        stylizer = ModelStylizer("onnxruntime", weights=weights, prompt="oil painting", encoder=encoder)
        stylizer.set_params(1, 1.0, 7)
        return stylize_all(stylizer, frames)

    with Client(endpoints.control, name="test-styles", timeout_s=30.0) as game:
        assert game.load_preset("tuned")["has_weights"] is True
        assert game.status()["weights"] == "tuned"
        with_tuned = stream(game)
        for got, want in zip(with_tuned, expected(tuned / "weights")):
            assert int(np.abs(got.astype(int) - want).max()) <= 1
        with pytest.raises(ReverieError, match=r"preset 'broken': its weights .* do not load, the look is unchanged"):
            game.load_preset("broken")
        status = game.status()
        assert status["weights"] == "tuned" and status["preset"] == "tuned" and status["settings"]["steps"] == 1
        again = stream(game)  # still serving, still the tuned look
        assert all(int(np.abs(a.astype(int) - b).max()) <= 1 for a, b in zip(again, with_tuned))
        game.load_preset("plain")  # no weights: back to the daemon's own
        assert game.status()["weights"] is None
        for got, want in zip(stream(game), expected(own)):
            assert int(np.abs(got.astype(int) - want).max()) <= 1


def test_a_slow_preset_blocks_no_other_request(start_daemon, endpoints, tmp_path):
    """The control socket is a ROUTER: while one client waits for a pack's weights to be
    built, every other client is answered at once; the console's `/preset` line waits
    for the same outcome and reports it as text."""
    import threading
    import time

    weighted = make_pack(tmp_path / "packs", "heavy", NEON.replace('"neon"', '"heavy"') + 'weights = "w"\n')
    save_tiny_weights(weighted / "w")
    start_daemon(stylizer_spec("SlowWeights"), ["--styles", str(tmp_path / "packs")])
    loaded: dict = {}

    def load() -> None:
        with ControlClient(endpoints.control) as slow:
            loaded.update(slow.load_preset("heavy"))

    waiting = threading.Thread(target=load)
    waiting.start()
    time.sleep(0.3)  # the request is in, its weights are being prepared
    with ControlClient(endpoints.control, timeout_s=1.0) as other:
        t0 = time.monotonic()
        for _ in range(5):
            assert other.request("ping")["pong"]
            assert other.status()["preset"] is None  # not applied before its weights are ready
        answered_in = time.monotonic() - t0
    waiting.join(timeout=10)
    assert answered_in < 1.0 and loaded["name"] == "heavy"
    with ControlClient(endpoints.control) as ctl:
        assert ctl.status()["preset"] == "heavy" and ctl.status()["weights"] == "heavy"
        ctl.load_preset("anime")  # back to the stylizer's own weights: prepared again, deferred
        reply = ctl.console("/preset heavy")
        assert reply["text"].startswith("preset heavy: prompt 'neon city at night'") and not reply["quit"]
        assert ctl.console("/preset nosuch")["text"].startswith("error: invalid: no preset 'nosuch'")
