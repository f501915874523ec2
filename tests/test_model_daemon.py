"""The shipped model in the daemon: world frames cross the real bridge (a daemon process,
shared memory, ZeroMQ) and come back stylized, exactly as the same stylizer computes them
in this process; reset, the static skip and prompt changes work end to end.

Nothing here assumes how good the weights are: outputs are compared with the same model
run in process, and with itself under another prompt."""

from __future__ import annotations

import numpy as np
import pytest
from model_fixtures import SHIPPED, stylize_all, world_frames

from reverie.bridge import Client
from reverie.bridge.local_daemon import LocalDaemon
from reverie.common.stylizer import Frame
from reverie.model.stylize import ModelStylizer

LEVELS = 1  # largest per-pixel difference tolerated between two runs of the same model (uint8 rounding)
PROMPT, OTHER = "oil painting", "film noir"


@pytest.fixture(scope="module")
def daemon():
    with LocalDaemon(
        stylizer="model", extra=["--weights", str(SHIPPED), "--backend", "onnxruntime"], ready_timeout_s=120.0
    ) as running:
        yield running


@pytest.fixture(scope="module")
def encoder():
    from reverie.model.text import PromptBank, PromptEncoder
    from reverie.model.world.looks import TRAIN_PROMPTS

    return PromptBank(PromptEncoder().encode, TRAIN_PROMPTS).embed  # what the daemon's stylizer uses


def reference(encoder, prompt: str = PROMPT) -> ModelStylizer:
    """The daemon's stylizer, built in this process."""
    return ModelStylizer("onnxruntime", weights=SHIPPED, prompt=prompt, encoder=encoder)


def through_bridge(daemon: LocalDaemon, frames: list[Frame], prompt: str = PROMPT, changes: dict | None = None):
    """Each frame submitted and its output awaited; (outputs, status at the end)."""
    outputs = []
    with Client(daemon.endpoints.control, name="test-model", timeout_s=30.0) as game:
        game.set_prompt(prompt, 0)
        game.set_params(steps=1, strength=1.0, seed=0)
        for i, f in enumerate(frames):
            if changes and i in changes:
                game.set_prompt(*changes[i])
            frame_id = game.submit(f.color, f.depth, f.motion, reset=f.reset)
            outputs.append(game.wait_output(frame_id, timeout_s=30.0).image)
        status = game.status()
    return outputs, status


def assert_same(a: np.ndarray, b: np.ndarray) -> None:
    assert a.shape == b.shape and int(np.abs(a.astype(int) - b).max()) <= LEVELS


def mean_difference(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a[..., :3].astype(float) - b[..., :3]).mean())


def test_daemon_stylizes_world_frames_with_the_shipped_model(daemon, encoder):
    frames = world_frames("walk", 8)
    before = through_bridge(daemon, [])[1]["stylizer_counters"]
    outputs, status = through_bridge(daemon, frames)
    assert status["stylizer"] == "model/onnxruntime/cpu/f32"
    counters = status["stylizer_counters"]
    assert counters["frames"] - before["frames"] == 8 and counters["skipped"] == before["skipped"]
    assert status["stats"]["failed"] == 0
    expected = stylize_all(reference(encoder), frames)
    for got, want, frame in zip(outputs, expected, frames):
        assert_same(got, want)
        assert (got[..., 3] == 255).all()
        assert mean_difference(got, frame.color) > 1.0, "the output is not the game's frame"
    other = stylize_all(reference(encoder, OTHER), frames)
    assert mean_difference(other[-1], expected[-1]) > 1.0, "the prompt steers the output"


def test_reset_through_the_bridge_clears_the_history(daemon, encoder):
    frames = world_frames("walk", 8)
    cut = Frame(7, frames[7].color, frames[7].depth, frames[7].motion, reset=True)
    outputs, _ = through_bridge(daemon, frames[:7] + [cut])
    fresh = stylize_all(reference(encoder), [frames[7]])[0]
    assert_same(outputs[-1], fresh)
    carried = stylize_all(reference(encoder), frames)[-1]
    assert not np.array_equal(carried, fresh), "without the reset the history shapes this frame"


def test_static_skip_through_the_bridge(daemon):
    base = world_frames("static", 1)[0]
    still = [Frame(i, base.color, base.depth, np.zeros_like(base.motion)) for i in range(5)]
    before = through_bridge(daemon, [])[1]["stylizer_counters"]
    outputs, status = through_bridge(daemon, still)
    counters = status["stylizer_counters"]
    assert counters["skipped"] - before["skipped"] == 4 and counters["model_calls"] - before["model_calls"] == 1
    assert all(np.array_equal(o, outputs[0]) for o in outputs)
    moving = world_frames("orbit", 5)
    _, status = through_bridge(daemon, moving)
    assert status["stylizer_counters"]["skipped"] == counters["skipped"], "never on a moving camera"


def test_prompt_change_reaches_the_output_within_the_transition(daemon, encoder):
    frames = world_frames("walk", 14)
    switch, transition = 4, 5
    outputs, _ = through_bridge(daemon, frames, PROMPT, {switch: (OTHER, transition)})
    old = stylize_all(reference(encoder, PROMPT), frames)
    new = stylize_all(reference(encoder, OTHER), frames)
    for i in range(switch):
        assert_same(outputs[i], old[i])
    for i in range(switch + transition, len(frames)):  # the new prompt is fully in from here on
        assert mean_difference(outputs[i], new[i]) < mean_difference(outputs[i], old[i]), f"frame {i}"
