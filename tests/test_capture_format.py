"""The capture file format on its own (bridge/capture.py, docs/capture.md): round trip,
seeking by the index, a file cut at any byte, a flipped byte."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from reverie.bridge.capture import (
    CHUNK_HEADER_BYTES,
    FOOTER_BYTES,
    CaptureCorrupt,
    CaptureError,
    CaptureEvent,
    CaptureFrame,
    CaptureReader,
    CaptureWriter,
    shuffle,
)


def make_frame(i: int, w: int = 24, h: int = 16, motion=np.float32, output: bool = True) -> CaptureFrame:
    rng = np.random.default_rng(i)
    ys = np.linspace(1.0, 40.0, h, dtype=np.float32)[:, None]
    return CaptureFrame(
        frame_id=100 + i,
        color=rng.integers(0, 256, (h, w, 4), dtype=np.uint8),
        depth=np.broadcast_to(ys, (h, w)).astype(np.float32) + np.float32(i),
        motion=rng.standard_normal((h, w, 2)).astype(motion),
        output=rng.integers(0, 256, (h, w, 4), dtype=np.uint8) if output else None,
        status="done" if output else "failed",
        reset=i == 0,
        jitter=(0.25, -0.5),
        near=0.1,
        far=500.0,
        fov_y=1.0,
        settings={"prompt": f"p{i // 2}", "transition_frames": 0, "steps": 1, "strength": 1.0, "seed": 7},
        t_submit_ns=i,
        t_done_ns=i + 5,
        error=None if output else "depth has 1 non-finite value(s)",
    )


def write_capture(path, count: int = 6) -> list[CaptureFrame]:
    frames = [make_frame(i, motion=np.float16 if i == 3 else np.float32, output=i != 4) for i in range(count)]
    with CaptureWriter(path, {"stylizer": "test"}) as writer:
        writer.write_event(CaptureEvent("reset_history", {}))
        for i, frame in enumerate(frames):
            if i == 2:
                writer.write_event(CaptureEvent("set_prompt", {"text": "winter", "transition_frames": 3}))
            writer.write_frame(frame)
    return frames


def assert_frames_equal(a: CaptureFrame, b: CaptureFrame) -> None:
    for name in ("color", "depth", "motion"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes(), name
    assert (a.output is None and b.output is None) or a.output.tobytes() == b.output.tobytes()
    for name in (
        "frame_id",
        "status",
        "reset",
        "near",
        "far",
        "fov_y",
        "settings",
        "t_submit_ns",
        "t_done_ns",
        "error",
    ):
        assert getattr(a, name) == getattr(b, name), name
    assert tuple(a.jitter) == tuple(b.jitter)


def test_round_trip_with_index_and_events(tmp_path):
    path = tmp_path / "c.rvcap"
    frames = write_capture(path)
    with CaptureReader(path) as reader:
        assert not reader.truncated and reader.problem is None
        assert len(reader) == 6 and reader.header["stylizer"] == "test" and reader.version == (1, 0)
        for i in (5, 0, 3, -1):  # seeking in any order
            assert_frames_equal(reader.frame(i), frames[i])
        assert [f.index for f in reader] == list(range(6))
        assert [(e.op, e.after_frames) for e in reader.events] == [("reset_history", 0), ("set_prompt", 2)]
        order = [x.op if isinstance(x, CaptureEvent) else x.index for x in reader.timeline()]
        assert order == ["reset_history", 0, 1, "set_prompt", 2, 3, 4, 5]
        with pytest.raises(IndexError):
            reader.frame(6)


def test_truncated_at_every_kind_of_offset_keeps_every_complete_chunk(tmp_path):
    path = tmp_path / "c.rvcap"
    frames = write_capture(path)
    data = path.read_bytes()
    with CaptureReader(path) as full:
        offsets = full._frame_offsets
        index_offset = len(data) - FOOTER_BYTES - 40  # inside the index chunk
    header_end = offsets[0] - CHUNK_HEADER_BYTES - 20  # before the first event's end
    cuts = {
        "mid-frame-3": (offsets[3] + 100, 3),
        "frame-3-header": (offsets[3] + 5, 3),
        "after-frame-5": (offsets[5] + 1, 5),
        "mid-index": (index_offset, 6),
        "mid-footer": (len(data) - 7, 6),
        "footer-gone": (len(data) - FOOTER_BYTES, 6),
    }
    cut_path = tmp_path / "cut.rvcap"
    for name, (cut, readable) in cuts.items():
        cut_path.write_bytes(data[:cut])
        with CaptureReader(cut_path) as reader:
            assert reader.truncated, name
            assert "did not finish" in reader.problem or "no footer" in reader.problem, name
            assert len(reader) == readable, (name, reader.problem)
            for i in range(readable):
                assert_frames_equal(reader.frame(i), frames[i])
    for cut in (0, 5, 20):  # inside the file header: not a capture that can be read at all
        cut_path.write_bytes(data[:cut])
        with pytest.raises(CaptureError, match="truncated in its header|too short"):
            CaptureReader(cut_path)
    cut_path.write_bytes(data[:header_end])  # the header whole, the first chunk torn
    with CaptureReader(cut_path) as reader:
        assert reader.truncated and len(reader) == 0 and reader.events == [] and "torn chunk" in reader.problem


def test_a_flipped_byte_names_the_chunk(tmp_path):
    path = tmp_path / "c.rvcap"
    write_capture(path)
    with CaptureReader(path) as reader:
        offset = reader._frame_offsets[2]
    data = bytearray(path.read_bytes())
    data[offset + CHUNK_HEADER_BYTES + 50] ^= 0x10
    path.write_bytes(bytes(data))
    with CaptureReader(path) as reader:
        assert not reader.truncated
        reader.frame(1)
        with pytest.raises(CaptureCorrupt, match=f"frame 2 at byte {offset}: crc32 mismatch"):
            reader.frame(2)
        with pytest.raises(CaptureCorrupt, match="frame 2"):
            reader.verify()


def test_not_a_capture_and_future_versions_are_refused(tmp_path):
    path = tmp_path / "x.rvcap"
    path.write_bytes(b"hello world, this is not a capture at all")
    with pytest.raises(CaptureError, match="not a Reverie capture"):
        CaptureReader(path)
    write_capture(path, 1)
    data = bytearray(path.read_bytes())
    data[8] = 2  # major version
    path.write_bytes(bytes(data))
    with pytest.raises(CaptureError, match="format 2.0"):
        CaptureReader(path)


def test_writer_refuses_bad_planes(tmp_path):
    frame = make_frame(0)
    frame.depth = frame.depth.astype(np.float64)
    with CaptureWriter(tmp_path / "c.rvcap") as writer, pytest.raises(ValueError, match="depth must be float32"):
        writer.write_frame(frame)


def test_shuffle_makes_depth_compress_better():
    """The reason for the shuffle filter, on a smooth depth plane like a game's."""
    y, x = np.mgrid[0:128, 0:128].astype(np.float32)
    depth = (2.0 + 0.05 * y + 0.01 * x + 0.001 * np.sin(x)).astype(np.float32)
    plain = len(zlib.compress(depth.tobytes(), 1))
    shuffled = len(zlib.compress(shuffle(depth), 1))
    assert shuffled < 0.85 * plain
