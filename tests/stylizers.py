"""Deterministic stylizers the daemon loads in tests (`--stylizer tests/stylizers.py:Name`).

Each output depends on every input plane and on the header, so a byte-exact comparison
with `expected_mix` proves that all of them crossed the bridge intact.

They declare `device = "cuda"`: on a CUDA ring the planes and `out` are torch CUDA tensors
and the same bytes come out of torch ops (`mix_torch`), with no host transfer; a `HostMix`
is the same stylizer declared host-only, which the daemon refuses CUDA rings for."""

from __future__ import annotations

import time

import numpy as np

from reverie.common.stylizer import STYLIZED, StylizerBase, StylizeResult


def _on_host(out) -> bool:
    return isinstance(out, np.ndarray)


def mix_torch(frame_id: int, color, depth, motion, reset: bool, out) -> None:
    """`expected_mix` in torch ops, written into `out` on the planes' device: the same bytes
    (reinterpreting floats as bytes, XOR), scalars written without a host-to-device copy."""
    import torch

    h, w = depth.shape
    depth_bytes = depth.contiguous().view(torch.uint8).reshape(h, w, 4)
    motion_bytes = motion.contiguous().view(torch.uint8).reshape(h, w, -1)
    torch.bitwise_xor(color, depth_bytes, out=out)
    out ^= motion_bytes[..., :4]
    if motion_bytes.shape[2] == 8:
        out ^= motion_bytes[..., 4:]
    for channel, value in enumerate((int(reset), frame_id & 0xFF, (frame_id >> 8) & 0xFF, 0xA5)):
        out[0, 0, channel] = value


def expected_mix(frame_id: int, color: np.ndarray, depth: np.ndarray, motion: np.ndarray, reset: bool) -> np.ndarray:
    """What `Mix` writes: color XOR the bytes of depth and motion, the reset flag and the
    frame id stamped into pixel (0, 0)."""
    h, w = depth.shape
    depth_bytes = np.ascontiguousarray(depth).view(np.uint8).reshape(h, w, 4)
    motion_bytes = np.ascontiguousarray(motion).view(np.uint8).reshape(h, w, -1)
    out = color ^ depth_bytes ^ motion_bytes[..., :4]
    if motion_bytes.shape[2] == 8:
        out ^= motion_bytes[..., 4:]
    out[0, 0] = [int(reset), frame_id & 0xFF, (frame_id >> 8) & 0xFF, 0xA5]
    return out


class Mix(StylizerBase):
    name = "mix"
    device = "cuda"  # numpy frames from shared memory, torch CUDA frames from a CUDA ring

    def __init__(self) -> None:
        self.resets = 0

    def stylize(self, frame, out) -> StylizeResult:
        if _on_host(out):
            out[...] = expected_mix(frame.frame_id, frame.color, frame.depth, frame.motion, frame.reset)
        else:
            mix_torch(frame.frame_id, frame.color, frame.depth, frame.motion, frame.reset, out)
        return STYLIZED

    def set_prompt(self, text, transition_frames) -> None:
        pass

    def set_params(self, steps, strength, seed) -> None:
        pass

    def reset_history(self) -> None:
        self.resets += 1


class Slow(Mix):
    """Mix that takes 50 ms a frame: makes the daemon fall behind a fast game."""

    name = "slow"

    def stylize(self, frame, out) -> StylizeResult:
        time.sleep(0.05)
        return super().stylize(frame, out)


class Camera(Mix):
    """Writes the camera fields of the header into the first output row (as float32)."""

    name = "camera"

    def stylize(self, frame, out) -> StylizeResult:
        super().stylize(frame, out)
        values = np.array([frame.jitter[0], frame.jitter[1], frame.near, frame.far, frame.fov_y], np.float32)
        row = values.view(np.uint8).reshape(5, 4)
        if _on_host(out):
            out[1, :5] = row
        else:
            for x, y in np.ndindex(5, 4):  # scalar fills: no host-to-device copy
                out[1, x, y] = int(row[x, y])
        return STYLIZED


class Broken(Mix):
    """Raises on frames whose id is a multiple of 3: a stylizer bug must not stop the daemon."""

    name = "broken"

    def stylize(self, frame, out) -> StylizeResult:
        if frame.frame_id % 3 == 0:
            raise RuntimeError("boom")
        return super().stylize(frame, out)


class Echo(Mix):
    """Reports the prompt and settings it was given in the output's second row (ASCII)."""

    name = "echo"

    def __init__(self) -> None:
        super().__init__()
        self.text = ""
        self._device_row = None  # the row on the GPU, uploaded once per prompt

    def set_prompt(self, text, transition_frames) -> None:
        self.text = f"{text}|{transition_frames}"
        self._device_row = None

    def stylize(self, frame, out) -> StylizeResult:
        super().stylize(frame, out)
        data = np.frombuffer(self.text.encode()[: out.shape[1] * 4], np.uint8)
        row = np.zeros(out.shape[1] * 4, np.uint8)
        row[: data.size] = data
        if _on_host(out):
            out[1] = row.reshape(-1, 4)
            return STYLIZED
        import torch

        if self._device_row is None or self._device_row.shape[0] != out.shape[1]:
            self._device_row = torch.from_numpy(row.reshape(-1, 4)).to(out.device)
        out[1] = self._device_row
        return STYLIZED


class HostMix(Mix):
    """Mix declared host-only (the default of a stylizer without `device`)."""

    name = "host-mix"
    device = "cpu"


class Trail(StylizerBase):
    """Deterministic and stateful, like the model: each output mixes this frame's planes
    with the previous output (forgotten on a reset) and a key of the prompt and settings in
    force. A replay reproduces it only when frames, resets and control events arrive in the
    recorded order (tests/test_capture.py). Independent of frame ids, as the model is."""

    name = "trail"

    def __init__(self) -> None:
        self.previous: np.ndarray | None = None
        self.prompt, self.transition, self.params = "", 0, [1, 1.0, 0]
        self._counts = {"frames": 0, "resets": 0}

    @property
    def counters(self) -> dict[str, int]:
        return dict(self._counts)

    def _key(self) -> int:
        import zlib

        return zlib.crc32(repr((self.prompt, self.transition, self.params)).encode()) & 0xFF

    def stylize(self, frame, out) -> StylizeResult:
        self._counts["frames"] += 1
        h, w = frame.depth.shape
        mixed = frame.color ^ np.ascontiguousarray(frame.depth).view(np.uint8).reshape(h, w, 4) ^ np.uint8(self._key())
        if self.previous is not None and not frame.reset and self.previous.shape == mixed.shape:
            mixed = mixed // 2 + self.previous // 2
        out[...] = mixed
        self.previous = mixed.copy()
        return STYLIZED

    def set_prompt(self, text, transition_frames) -> None:
        self.prompt, self.transition = text, transition_frames

    def set_params(self, steps, strength, seed) -> None:
        for i, value in enumerate((steps, strength, seed)):
            if value is not None:
                self.params[i] = value

    def reset_history(self) -> None:
        self.previous = None
        self._counts["resets"] += 1


class SlowWeights(Echo):
    """Echo that takes 2 s to prepare a pack's weights (a backend being built): the
    control socket must answer every other request meanwhile."""

    name = "slow-weights"

    def prepare_weights(self, folder):
        time.sleep(2.0)
        return folder

    def use_weights(self, prepared) -> None:
        self.weights = prepared
