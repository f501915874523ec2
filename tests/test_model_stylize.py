"""The model stylizer stage, in process (a tiny random network and a stand-in prompt
encoder: these tests are about the stage's logic, not the network's quality; the shipped
model runs through the daemon in test_model_daemon.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from model_fixtures import SHIPPED, fake_encoder, save_tiny_weights, stylize_all, tiny_model, world_frames

from reverie.common.stylizer import STATIC_SKIP, STYLIZED, Frame, Stylizer, StylizerBase, WeightsUnsupported
from reverie.model.backends.torch_backend import TorchBackend
from reverie.model.evaluate import rollout
from reverie.model.resize import game_to_model, model_to_game, working_size
from reverie.model.stream import TRUST_RECOVERY_FRAMES
from reverie.model.stylize import ModelStylizer

MOVING_PATHS = ("walk", "run", "strafe", "orbit", "fast_turn")


class SpyBackend(TorchBackend):
    """The torch backend, remembering the prompt embedding and history trust of every call."""

    def __init__(self, model):
        super().__init__(model)
        self.prompts: list[np.ndarray] = []
        self.trusts: list[float] = []

    def denoise(self, inputs):
        self.prompts.append(inputs["prompt"][0].numpy().copy())
        self.trusts.append(float(inputs["history_trust"][0]))
        return super().denoise(inputs)


def stylizer(model=None, **kwargs) -> ModelStylizer:
    backend = kwargs.pop("backend", None) or TorchBackend(model or tiny_model())
    return ModelStylizer(backend, encoder=fake_encoder, stride=8, **kwargs)


def frozen(frame: Frame, frame_id: int = 0) -> Frame:
    """The same picture again with the camera still: a paused game."""
    return Frame(frame_id, frame.color.copy(), frame.depth.copy(), np.zeros_like(frame.motion))


@pytest.mark.parametrize("trust", [0.0, 3.0])
def test_stylizer_reproduces_the_evaluation_rollout_exactly(trust):
    """The per-frame path is the one the model was evaluated with (reverie eval), at the
    weights' steady history trust."""
    model = tiny_model()
    prompt = fake_encoder("oil painting")
    expected = [f.output for f in rollout(model, "oil", prompt, 1005, 6, 64, 64, steps=2, history_trust=trust)]
    st = stylizer(model, prompt="oil painting", history_trust=trust)
    st.set_params(steps=2, strength=None, seed=1005)
    frames = world_frames("mixed", 6, seed=1005)
    for want, got in zip(expected, stylize_all(st, frames)):
        np.testing.assert_array_equal(got[..., :3], want)
        assert (got[..., 3] == 255).all()


def test_working_size_keeps_the_aspect_on_the_stride():
    assert working_size(1920, 1080, 256, 16) == (448, 256)
    assert working_size(1280, 720, 256, 16) == (448, 256)
    assert working_size(256, 256, 256, 16) == (256, 256)
    assert working_size(64, 48, 256, 16) == (64, 48), "a small frame is never upscaled"
    assert working_size(100, 30, 256, 16) == (112, 32)
    assert working_size(2560, 1080, 256, 16) == (608, 256)
    with pytest.raises(ValueError):
        working_size(0, 10, 256, 16)
    with pytest.raises(ValueError):
        working_size(64, 64, 8, 16)


def test_resizing_scales_motion_and_never_blends_depth():
    rng = np.random.default_rng(0)
    color = rng.integers(0, 256, (96, 128, 4), dtype=np.uint8)
    depth = rng.choice(np.array([2.0, 50.0], np.float32), (96, 128))
    motion = np.zeros((96, 128, 2), np.float32)
    motion[..., 0], motion[..., 1] = 6.0, -3.0
    color01, depth_t, motion_t = game_to_model(color, depth, motion, (64, 48))
    assert color01.shape == (1, 3, 48, 64) and depth_t.shape == (1, 1, 48, 64)
    assert set(depth_t.unique().tolist()) <= {2.0, 50.0}, "nearest: no depth between two surfaces"
    assert torch.all(motion_t[0, 0] == 3.0) and torch.all(motion_t[0, 1] == -1.5), "motion in working-size pixels"
    assert 0 <= float(color01.min()) and float(color01.max()) <= 1
    depth[:] = 7.0  # the model's copies never alias the game's buffers
    assert float(depth_t.max()) == 50.0


def test_output_is_resized_back_to_the_game_size_with_opaque_alpha():
    st = stylizer()
    frame = world_frames("walk", 1, 96, 64)[0]
    big = Frame(
        0,
        frame.color.repeat(2, 0).repeat(2, 1),
        frame.depth.repeat(2, 0).repeat(2, 1),
        frame.motion.repeat(2, 0).repeat(2, 1) * 2,
        True,
    )
    st.work_height = 64
    out = np.zeros((128, 192, 4), np.uint8)
    st.stylize(big, out)
    assert (out[..., 3] == 255).all() and out[..., :3].std() > 0
    assert st._work == (96, 64)


def test_reset_clears_the_history():
    """After a reset the output depends on its own frame only: the same as a fresh stylizer's."""
    frames = world_frames("walk", 12)
    target = frames[10]
    fresh = stylize_all(stylizer(), [target])[0]
    carried = stylizer()
    outputs = stylize_all(carried, frames[:10] + [target])
    assert not np.array_equal(outputs[-1], fresh), "without a reset the history shapes the output"
    by_flag = stylizer()
    stylize_all(by_flag, frames[:10])
    assert np.array_equal(
        stylize_all(by_flag, [Frame(10, target.color, target.depth, target.motion, reset=True)])[0], fresh
    )
    by_control = stylizer()
    stylize_all(by_control, frames[:10])
    by_control.reset_history()
    assert np.array_equal(stylize_all(by_control, [target])[0], fresh)


@pytest.mark.parametrize("path", MOVING_PATHS)
def test_static_skip_never_triggers_on_a_moving_camera(path):
    st = stylizer()
    stylize_all(st, world_frames(path, 8, 32, 32))
    assert st.counters["skipped"] == 0 and st.counters["model_calls"] == 8


def test_static_skip_triggers_on_a_static_camera_and_repeats_the_last_output():
    base = world_frames("static", 1)[0]
    st = stylizer()
    outputs = stylize_all(st, [frozen(base, i) for i in range(6)])
    assert st.counters["skipped"] == 5 and st.counters["model_calls"] == 1
    assert all(np.array_equal(o, outputs[0]) for o in outputs)


def test_the_stylizer_keeps_the_daemons_contract():
    """`stylize` says which frames were repeated (the daemon reads that, not the counters);
    the counters are a fresh dict of ints each time (the daemon's I/O thread reads them); a
    stylizer built around a given backend says it runs no weights it could swap."""
    st = stylizer()
    assert isinstance(st, Stylizer) and isinstance(st, StylizerBase)
    base = world_frames("static", 1)[0]
    out = np.zeros(base.color.shape, np.uint8)
    assert [st.stylize(frozen(base, i), out) for i in range(3)] == [STYLIZED, STATIC_SKIP, STATIC_SKIP]
    counters = st.counters
    assert counters == {"frames": 3, "model_calls": 1, "skipped": 2, "history_resets": 1, "host_device_copies": 0}
    assert all(type(v) is int for v in counters.values())
    counters["frames"] = 99
    assert st.counters["frames"] == 3
    assert st.prepare_weights(None).folder is None
    with pytest.raises(WeightsUnsupported, match="built around a given backend"):
        st.prepare_weights(SHIPPED)


def test_other_weights_run_from_a_fresh_history_and_the_own_ones_come_back(tmp_path):
    """`use_weights` swaps the network between two frames and resets the history; `None`
    returns to the stylizer's own weights, which then give what a fresh stylizer gives."""
    own, other = save_tiny_weights(tmp_path / "own", seed=0), save_tiny_weights(tmp_path / "other", seed=1)
    frames = world_frames("walk", 4)

    def fresh() -> ModelStylizer:
        return ModelStylizer("torch", weights=own, encoder=fake_encoder, work_height=64)

    expected = stylize_all(fresh(), frames[2:])
    st = fresh()
    stylize_all(st, frames[:2])
    prepared = st.prepare_weights(other)
    assert prepared.folder == other and prepared.stride == 8
    st.use_weights(prepared)
    assert st.identity["weights_sha256"] != fresh().identity["weights_sha256"]
    swapped = stylize_all(st, frames[2:])
    assert not np.array_equal(swapped[0], expected[0]), "the other network's output"
    st.use_weights(st.prepare_weights(None))
    assert st.weights is None and all(np.array_equal(a, b) for a, b in zip(stylize_all(st, frames[2:]), expected))


def test_static_skip_is_exact():
    base = world_frames("static", 1)[0]
    st = stylizer()
    stylize_all(st, [frozen(base), frozen(base)])
    assert st.counters["skipped"] == 1
    changed = frozen(base)
    changed.color[40, 17, 0] ^= 1  # one bit of one pixel
    stylize_all(st, [changed])
    assert st.counters["skipped"] == 1, "a changed pixel is stylized"
    nudged = frozen(changed)
    nudged.motion[3, 3, 1] = 0.01
    stylize_all(st, [nudged])
    assert st.counters["skipped"] == 1, "any motion is stylized"
    stylize_all(st, [Frame(9, changed.color, changed.depth, np.zeros_like(changed.motion), reset=True)])
    assert st.counters["skipped"] == 1, "a camera cut is stylized"
    st.set_params(steps=2, strength=None, seed=None)
    stylize_all(st, [frozen(changed)])
    assert st.counters["skipped"] == 1, "new settings are stylized"
    stylize_all(st, [frozen(changed)])
    assert st.counters["skipped"] == 2


def test_static_skip_waits_for_a_prompt_transition_to_finish():
    base = world_frames("static", 1)[0]
    st = stylizer()
    stylize_all(st, [frozen(base)])
    st.set_prompt("film noir", transition_frames=3)
    stylize_all(st, [frozen(base) for _ in range(6)])
    # frames 0..2 blend, frame 3 has the new prompt exactly, frames 4 and 5 repeat it
    assert st.counters["model_calls"] == 1 + 4 and st.counters["skipped"] == 2


def test_skip_on_a_static_path_only_where_the_input_repeats_exactly():
    """The world's static camera still sees moving objects: only frames identical to the one
    before (no motion anywhere) may be skipped."""
    frames = world_frames("static", 10, 32, 32)
    st = stylizer()
    stylize_all(st, frames)
    repeats = sum(
        1
        for a, b in zip(frames, frames[1:])
        if not b.reset and not b.motion.any() and np.array_equal(a.color, b.color) and np.array_equal(a.depth, b.depth)
    )
    assert st.counters["skipped"] == repeats


def test_prompt_change_reaches_the_model_within_the_transition():
    backend = SpyBackend(tiny_model())
    st = stylizer(backend=backend, prompt="oil painting")
    frames = world_frames("walk", 12)
    old, new, transition = fake_encoder("oil painting"), fake_encoder("winter night"), 5
    stylize_all(st, frames[:3])
    st.set_prompt("winter night", transition)
    stylize_all(st, frames[3:])
    seen = backend.prompts
    assert all(np.array_equal(p, old) for p in seen[:3])
    moving = [float(p @ new) for p in seen[3 : 3 + transition]]
    assert moving == sorted(moving) and moving[-1] < 0.999, "a smooth blend, strictly before the target"
    assert all(np.array_equal(p, new) for p in seen[3 + transition :]), "the new prompt from the transition's end on"
    assert all(abs(float(np.linalg.norm(p)) - 1) < 1e-5 for p in seen)


def test_strength_blends_the_stylized_image_with_the_game_color():
    frame = world_frames("walk", 1)[0]
    full = stylize_all(stylizer(), [frame])[0]
    none = stylizer()
    none.set_params(None, 0.0, None)
    assert np.array_equal(stylize_all(none, [frame])[0][..., :3], frame.color[..., :3])
    half = stylizer()
    half.set_params(None, 0.5, None)
    mixed = stylize_all(half, [frame])[0].astype(int)
    expected = (full[..., :3].astype(int) + frame.color[..., :3]) / 2
    assert np.abs(mixed[..., :3] - expected).max() <= 1
    assert (mixed[..., 3] == 255).all()


def test_seed_reproduces_and_changes_the_output():
    frames = world_frames("walk", 4)
    a = stylize_all(stylizer(), frames)
    b = stylize_all(stylizer(), frames)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    other = stylizer()
    other.set_params(None, None, 7)
    assert not np.array_equal(stylize_all(other, frames)[-1], a[-1]), "the history noise follows the seed"


def test_bad_settings_are_refused_with_clear_errors():
    st = stylizer()
    for steps in (0, 9):
        with pytest.raises(ValueError, match="steps must be 1..8"):
            st.set_params(steps, None, None)
    with pytest.raises(ValueError, match="strength must be 0..1"):
        st.set_params(None, 1.5, None)
    with pytest.raises(ValueError, match="transition_frames"):
        st.set_prompt("anime", -1)
    with pytest.raises(ValueError, match="work_height"):
        stylizer(work_height=4)
    with pytest.raises(ValueError, match="strength below 1"):
        model_to_game(torch.zeros(1, 3, 8, 8), np.zeros((8, 8, 4), np.uint8), 0.5)


def test_a_new_game_size_restarts_the_history():
    st = stylizer()
    stylize_all(st, world_frames("walk", 2, 64, 64))
    resets = st.counters["history_resets"]
    stylize_all(st, world_frames("walk", 1, 96, 64))
    assert st.counters["history_resets"] == resets + 1 and st._work == (96, 64)


def test_history_trust_drops_for_a_prompt_change_and_comes_back():
    """0 while the new prompt blends in, back to the steady value in TRUST_RECOVERY_FRAMES
    equal steps; the same prompt again changes nothing; the static skip waits for it."""
    backend = SpyBackend(tiny_model())
    st = stylizer(backend=backend, prompt="oil painting", history_trust=2.0)
    frames = world_frames("walk", 14)
    stylize_all(st, frames[:2])
    st.set_prompt("winter night", 3)
    stylize_all(st, frames[2:11])
    st.set_prompt("winter night", 3)  # already there: the history shows this prompt's look
    stylize_all(st, frames[11:])
    assert TRUST_RECOVERY_FRAMES == 4
    assert backend.trusts == [2.0, 2.0, 0.0, 0.0, 0.0, 0.5, 1.0, 1.5, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0]
    st.set_prompt("oil painting", 0)  # an instant change still lowers the trust
    base = world_frames("static", 1)[0]
    stylize_all(st, [frozen(base) for _ in range(7)])
    assert backend.trusts[14:] == [0.5, 1.0, 1.5, 2.0]
    assert st.counters["skipped"] == 3, "the static skip waits until the trust is steady"


def as_tensors(frame: Frame, device: str = "cpu") -> Frame:
    """The frame as a device ring hands it over: torch tensors viewing the planes."""
    color, depth, motion = (torch.tensor(plane, device=device) for plane in (frame.color, frame.depth, frame.motion))
    return Frame(frame.frame_id, color, depth, motion, reset=frame.reset)


def stylize_tensors(st: ModelStylizer, frames: list[Frame], device: str = "cpu") -> list[np.ndarray]:
    outputs = []
    for frame in frames:
        out = torch.zeros(frame.color.shape, dtype=torch.uint8, device=device)
        st.stylize(as_tensors(frame, device), out)
        outputs.append(out.cpu().numpy())
    return outputs


def test_tensor_frames_give_the_same_output_as_host_frames():
    """The device-ring path (planes and output as tensors) runs the same steps as the host
    ring's numpy path, a resize, a cut, a blend and a prompt change included."""
    frames = world_frames("mixed", 8, 96, 64, seed=1003)
    model = tiny_model()
    runs = []
    for stylize in (stylize_all, stylize_tensors):
        st = stylizer(model, prompt="oil painting", history_trust=2.0)
        st.set_params(steps=2, strength=0.7, seed=5)
        first = stylize(st, frames[:4])
        st.set_prompt("winter night", 2)
        runs.append(first + stylize(st, frames[4:]))
        assert st.counters["host_device_copies"] == 0, "a CPU stylizer has no device to copy to"
    for host, tensor in zip(*runs):
        np.testing.assert_array_equal(host, tensor)


@pytest.mark.gpu
def test_device_frames_stay_on_the_gpu():
    """On a CUDA stylizer, frames in device memory are stylized without a host<->device copy
    once the prompt holds (counted by the CUDA profiler, not by our own counter), and give
    what the same stylizer gives for the same frames from host memory."""
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    from torch.profiler import ProfilerActivity, profile

    frames = world_frames("walk", 12, 128, 96)
    host = stylizer(backend=TorchBackend(tiny_model(), "cuda"), history_trust=2.0)
    device = stylizer(backend=TorchBackend(tiny_model(), "cuda"), history_trust=2.0)
    expected = stylize_all(host, frames)
    assert host.counters["host_device_copies"] == 4 * len(frames) + 1
    got = stylize_tensors(device, frames[:4], "cuda")
    inputs = [as_tensors(f, "cuda") for f in frames[4:]]
    outs = [torch.zeros(f.color.shape, dtype=torch.uint8, device="cuda") for f in inputs]
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for frame, out in zip(inputs, outs):
            device.stylize(frame, out)
        torch.cuda.synchronize()
    copies = [e.name for e in prof.events() if "Memcpy" in e.name and ("HtoD" in e.name or "DtoH" in e.name)]
    assert copies == [], copies
    assert device.counters["host_device_copies"] == 1  # the prompt embedding, once
    got += [o.cpu().numpy() for o in outs]
    for want, have in zip(expected, got):
        assert int(np.abs(want.astype(int) - have).max()) <= 1


def test_each_look_settles_at_its_own_trust_and_a_prompt_change_ramps_to_the_new_looks():
    """A trust per look (thermal's steadier truth needs more than the others): a prompt gets
    its styles' trusts by its share of each, a new wording of thermal gets thermal's, and a
    change of prompt drops the trust to 0 and brings it back to the new look's."""
    from reverie.model.evaluate import evaluate
    from reverie.model.look_trust import LookTrust
    from reverie.model.text import runtime_embedder
    from reverie.model.world.looks import STYLES

    embed = runtime_embedder()  # the shipped table: known prompts without the sentence encoder
    thermal, oil = STYLES["thermal"].train_prompts[0], STYLES["oil"].train_prompts[0]
    trust = LookTrust.of(0.5, {"thermal": 3.0})
    assert trust(embed(thermal)) == pytest.approx(3.0, abs=0.01) and trust(embed(oil)) == pytest.approx(0.5, abs=0.01)
    assert trust(embed(STYLES["thermal"].heldout_prompts[0])) > 2.5
    with pytest.raises(ValueError, match="trained styles"):
        LookTrust.of(0.0, {"blueprint": 1.0})

    backend = SpyBackend(tiny_model())
    st = ModelStylizer(backend, encoder=embed, stride=8, prompt=oil, history_trust=trust)
    frames = world_frames("walk", 10)
    stylize_all(st, frames[:2])
    st.set_prompt(thermal, 2)
    stylize_all(st, frames[2:])
    assert backend.trusts == pytest.approx([0.5, 0.5, 0.0, 0.0, 0.75, 1.5, 2.25, 3.0, 3.0, 3.0], abs=0.01)

    result = evaluate(tiny_model(), "train", ["thermal", "oil"], 1000, 2, 32, 32, history_trust=trust)
    assert result["styles"]["thermal"]["history_trust"] == pytest.approx(3.0, abs=0.01)
    assert result["styles"]["oil"]["history_trust"] == pytest.approx(0.5, abs=0.01)
    assert result["history_trust"] == {"history_trust": 0.5, "look_trust": {"thermal": 3.0}}
