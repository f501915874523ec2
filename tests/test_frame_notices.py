"""The frames socket under abuse from the session holder itself: garbled notices,
duplicates, notices for slots it does not own. The daemon ignores them and keeps serving;
camera cuts survive being dropped."""

from __future__ import annotations

import time

import numpy as np
import pytest
from conftest import random_frame, stylizer_spec
from stylizers import expected_mix

from reverie.bridge import Client, ControlClient, ControlError, FrameDropped
from reverie.bridge import control as C
from reverie.bridge import protocol as P


def _check_round_trip(game: Client, rng) -> None:
    color, depth, motion = random_frame(rng, 64, 48)
    frame_id = game.submit(color, depth, motion)
    np.testing.assert_array_equal(game.wait_output(frame_id).image, expected_mix(frame_id, color, depth, motion, False))


@pytest.mark.parametrize(
    "notice",
    [
        {"gen": float("inf"), "slot": 0, "seq": 1},
        {"gen": 1, "slot": float("-inf"), "seq": 1},
        {"gen": 1, "slot": 0, "seq": 1e30},
        {"gen": 1, "slot": 0, "seq": 2**64 - 1, "skipped": float("nan")},
        {"gen": True, "slot": 0, "seq": 1},
        {"gen": 1, "slot": -1, "seq": 1},
        {"gen": 1, "slot": 99, "seq": 1},
        {"gen": 1, "slot": "0", "seq": 1},
        {"gen": 1, "slot": 0},
        [1, 0, 1],
        "submit",
    ],
    ids=lambda n: repr(n)[:40],
)
def test_garbled_frame_notice_is_ignored(start_daemon, endpoints, rng, notice):
    daemon = start_daemon(stylizer_spec("Mix"))
    with Client(endpoints.control) as game:
        _check_round_trip(game, rng)
        game._frames.send(C.pack(notice))
        game._frames.send(b"\xc1 not msgpack")
        time.sleep(0.1)
        assert daemon.proc.poll() is None
        _check_round_trip(game, rng)
        stats = game.status()["stats"]
        assert stats["frames"] == 2 and stats["failed"] == 0


def test_notice_for_a_slot_the_daemon_does_not_own_leaves_the_slot_alone(start_daemon, endpoints, rng):
    start_daemon(stylizer_spec("Mix"))
    with Client(endpoints.control) as game:
        _check_round_trip(game, rng)
        slot = next(iter(game._owned))
        header = game._ring.slots[slot].header
        before = bytes(header.tobytes())
        game._frames.send(C.pack({"gen": game._generation, "slot": slot, "seq": int(header["seq"])}))
        time.sleep(0.1)
        assert bytes(header.tobytes()) == before, "the daemon wrote into a slot the game owns"
        _check_round_trip(game, rng)
        assert game.status()["stats"]["failed"] == 1


def test_duplicate_notice_is_served_once(start_daemon, endpoints, rng):
    start_daemon(stylizer_spec("Slow"))
    color, depth, motion = random_frame(rng, 64, 48)
    with Client(endpoints.control) as game:
        first = game.submit(color, depth, motion)
        time.sleep(0.01)  # the daemon is now busy with `first` for 50 ms
        second = game.submit(color, depth, motion)
        slot = next(s for s, (seq, fid) in game._in_flight.items() if fid == second)
        game._frames.send(C.pack({"gen": game._generation, "slot": slot, "seq": game._in_flight[slot][0]}))
        game.wait_output(first)
        np.testing.assert_array_equal(game.wait_output(second).image, expected_mix(second, color, depth, motion, False))
        stats = game.status()["stats"]
        assert stats["frames"] == 2 and stats["dropped"] == 0 and stats["failed"] == 0


def test_camera_cut_on_a_dropped_frame_reaches_the_next_stylized_frame(start_daemon, endpoints, rng):
    start_daemon(stylizer_spec("Slow"))
    color, depth, motion = random_frame(rng, 64, 48)
    with Client(endpoints.control) as game:
        first = game.submit(color, depth, motion)
        time.sleep(0.01)
        cut = game.submit(color, depth, motion, reset=True)
        after = game.submit(color, depth, motion)
        with pytest.raises(FrameDropped):
            game.wait_output(cut)
        out = game.wait_output(after).image
        assert out[0, 0, 0] == 1, "the reset of the dropped frame was lost"
        assert first < cut


def test_camera_cut_on_a_rejected_frame_reaches_the_next_stylized_frame(start_daemon, endpoints, rng):
    start_daemon(stylizer_spec("Mix"))
    color, depth, motion = random_frame(rng, 64, 48)
    bad = depth.copy()
    bad[3, 3] = np.nan
    with Client(endpoints.control) as game:
        rejected = game.submit(color, bad, motion, reset=True)
        with pytest.raises(Exception, match="non-finite"):
            game.wait_output(rejected)
        assert game.wait_output(game.submit(color, depth, motion)).image[0, 0, 0] == 1
        assert game.wait_output(game.submit(color, depth, motion)).image[0, 0, 0] == 0


def test_ring_over_the_size_limit_is_refused(start_daemon, endpoints):
    start_daemon()
    with ControlClient(endpoints.control) as ctl:
        token = ctl.request("hello", client="big", pid=__import__("os").getpid())["session"]
        with pytest.raises(ControlError) as info:
            ctl.request("open_ring", session=token, width=8192, height=8192, slots=16)
        assert info.value.code == P.ERR_INVALID and "limit" in str(info.value) and "fewer slots" in str(info.value)
        ctl.request("bye", session=token)
