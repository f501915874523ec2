"""The native library's protocol constants (bridge/native/src/protocol.h, and the public
header's copies) and its layout rule against bridge/protocol.py, the source of truth."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
from native_build import program

from reverie.bridge import protocol as P


@pytest.fixture(scope="module")
def native_values() -> dict[str, str]:
    out = subprocess.run([program("protocol_constants")], capture_output=True, text=True, check=True).stdout
    return dict(line.split("=", 1) for line in out.splitlines())


SCALARS = [
    "SKY_DEPTH_METERS",
    "PROTOCOL_MAJOR",
    "PROTOCOL_MINOR",
    "MAGIC",
    "PAGE",
    "SEGMENT_HEADER_BYTES",
    "SLOT_HEADER_BYTES",
    "PLANE_ALIGN",
    "ERROR_TEXT_BYTES",
    "SLOT_EMPTY",
    "SLOT_SUBMITTED",
    "SLOT_PROCESSING",
    "SLOT_DONE",
    "SLOT_DROPPED",
    "SLOT_FAILED",
    "FLAG_RESET",
    "RING_FLAG_DEVICE_PLANES",
    "MOTION_F32",
    "MOTION_F16",
    "FRAME_OK",
    "FRAME_ERR_NONFINITE",
    "FRAME_ERR_STYLIZER",
    "FRAME_ERR_HEADER",
    "MAX_CONTROL_BYTES",
    "MAX_SOCKET_BYTES",
    "MAX_PROMPT_CHARS",
    "MAX_TRANSITION_FRAMES",
    "MAX_CONSOLE_LINE_CHARS",
    "MAX_STEPS",
    "MAX_SIDE",
    "MAX_RING_BYTES",
    "MIN_SLOTS",
    "MAX_SLOTS",
    "DEFAULT_SLOTS",
]
STRINGS = [
    "SHM_PREFIX",
    "ERR_MALFORMED",
    "ERR_TOO_LARGE",
    "ERR_VERSION",
    "ERR_UNKNOWN_OP",
    "ERR_INVALID",
    "ERR_BUSY",
    "ERR_SESSION",
    "ERR_FORBIDDEN",
    "ERR_INTERNAL",
]


@pytest.mark.parametrize("name", SCALARS)
def test_constant(native_values, name):
    assert int(native_values[name]) == getattr(P, name)


@pytest.mark.parametrize("name", STRINGS)
def test_string_constant(native_values, name):
    assert native_values[name] == getattr(P, name)


def test_public_header_agrees(native_values):
    """reverie.h repeats what engines need: protocol version, reset flag, motion formats."""
    assert int(native_values["REVERIE_PROTOCOL_MAJOR"]) == P.PROTOCOL_MAJOR
    assert int(native_values["REVERIE_PROTOCOL_MINOR"]) == P.PROTOCOL_MINOR
    assert int(native_values["REVERIE_FRAME_RESET"]) == P.FLAG_RESET
    assert int(native_values["REVERIE_MOTION_F32"]) == P.MOTION_F32
    assert int(native_values["REVERIE_MOTION_F16"]) == P.MOTION_F16


@pytest.mark.parametrize("dtype_name", ["SEGMENT_HEADER", "SLOT_HEADER"])
def test_header_layout(native_values, dtype_name):
    """Every field of the dtype is in the C struct, at the same offset and of the same size."""
    dtype = getattr(P, dtype_name)
    assert int(native_values[f"{dtype_name}.itemsize"]) == dtype.itemsize
    for field in dtype.names:
        field_dtype, offset = dtype.fields[field][:2]
        assert int(native_values[f"{dtype_name}.{field}"]) == offset, field
        assert int(native_values[f"{dtype_name}.{field}.size"]) == field_dtype.itemsize, field


def test_game_heartbeat_field(native_values):
    """The game's heartbeat word (protocol 2.0): a u64 at 128, after created_ns, and the
    header still fits in its page."""
    field_dtype, offset = P.SEGMENT_HEADER.fields["game_beat_ns"][:2]
    assert (field_dtype, offset) == (np.dtype("<u8"), 128)
    assert int(native_values["SEGMENT_HEADER.game_beat_ns"]) == 128
    assert int(native_values["SEGMENT_HEADER.game_beat_ns.size"]) == 8
    assert int(native_values["SEGMENT_HEADER.itemsize"]) == P.SEGMENT_HEADER.itemsize == 136
    assert P.SEGMENT_HEADER.itemsize <= P.SEGMENT_HEADER_BYTES


def test_layout_rule(native_values):
    shapes = [
        key.split(".")[1:3] for key in native_values if key.startswith("LAYOUT.") and key.endswith(".slot_stride")
    ]
    assert len(shapes) >= 6
    for size, motion in shapes:
        width, height, slots = map(int, size.split("x"))
        layout = P.ring_layout(width, height, slots, int(motion))
        prefix = f"LAYOUT.{size}.{motion}"
        for field in (
            "color_offset",
            "depth_offset",
            "motion_offset",
            "output_offset",
            "slot_stride",
            "motion_pitch",
            "total_bytes",
            "control_bytes",
        ):
            assert int(native_values[f"{prefix}.{field}"]) == getattr(layout, field), (prefix, field)


def test_the_soname_and_reverie_abi_version_follow_the_headers_abi_version():
    """A program compares reverie_abi_version() with the REVERIE_ABI_VERSION it was built
    with; the linker finds the library by the same number (libreverie.so.<ABI>)."""
    import ctypes
    import re

    from native_build import SOURCE, build_libreverie

    header = (SOURCE / "include" / "reverie.h").read_text()
    (abi,) = re.findall(r"^#define REVERIE_ABI_VERSION (\d+)$", header, re.M)
    library = build_libreverie() / "libreverie.so"
    dynamic = subprocess.run(["readelf", "-d", str(library)], capture_output=True, text=True, check=True).stdout
    assert f"Library soname: [libreverie.so.{abi}]" in dynamic
    assert ctypes.CDLL(str(library)).reverie_abi_version() == int(abi) >= 1
