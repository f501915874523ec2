"""The control socket: a ROUTER, so that no request waits on another (zguide's server).

Each request names an op (`protocol.OPS`); `handlers` maps every op to the function that
serves it. A handler returns the reply's fields, raises `ProtocolError` for a request it
refuses, or returns a `Deferred` when the answer waits on work off the I/O thread (a
style pack's weights being built): that request is answered when the work is done, and
every other request is answered meanwhile. Clients are REQ sockets (one request at a time
each), so a reply goes back on the envelope its request came with.

On ipc:// each request carries its connection's peer credentials (SO_PEERCRED, which
ZeroMQ exposes as the frame's `Peer-Address`): `on_request` sees them first (and may refuse
the request), and the ops in `peer_ops` get them as `peer`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass
from typing import Any

import zmq

from .. import control as C
from .. import protocol as P

log = logging.getLogger("reverie.daemon")

Handler = Callable[..., "dict[str, Any] | Deferred"]


@dataclass(frozen=True)
class Peer:
    """Who is at the other end of a local connection, as the kernel says (not the client)."""

    uid: int
    gid: int
    pid: int

    @classmethod
    def of(cls, frame: zmq.Frame) -> Peer | None:
        """From an ipc:// frame's `Peer-Address` ("<host>:<uid>:<gid>:<pid>"); None on tcp."""
        try:
            address = frame.get("Peer-Address")
        except zmq.ZMQError:
            return None
        fields = address.rsplit(":", 3)
        if len(fields) != 4 or not all(f.isdigit() for f in fields[1:]):
            return None
        return cls(int(fields[1]), int(fields[2]), int(fields[3]))


RequestHook = Callable[[Peer | None, dict[str, Any]], None]


class Deferred:
    """A reply that waits for `future`: once it is done, `finish(future)` gives the reply's
    fields or raises the ProtocolError the request ends with."""

    def __init__(self, future: Future[Any], finish: Callable[[Future[Any]], Any]):
        self.future, self.finish = future, finish

    def result(self) -> Any:
        return self.finish(self.future)


def _split_envelope(parts: list[bytes]) -> tuple[list[bytes], list[bytes]]:
    """(routing envelope up to and with the empty delimiter, body). A DEALER peer that sends
    no delimiter gets its identity frame alone as the envelope."""
    for i, part in enumerate(parts[1:], start=1):
        if part == b"":
            return parts[: i + 1], parts[i + 1 :]
    return parts[:1], parts[1:]


class ControlServer:
    """Serves requests on `socket` (bound by the daemon) from the I/O thread: `serve_ready`
    answers what has arrived and what deferred work has finished, never blocking."""

    def __init__(
        self,
        socket: zmq.Socket,
        handlers: dict[str, Handler],
        before_reply: Callable[[], bool],
        on_request: RequestHook,
        peer_ops: Collection[str] = (),
    ):
        missing = sorted(set(P.OPS) - set(handlers))
        if missing:
            raise ValueError(f"no handler for the ops {', '.join(missing)}")
        self._socket = socket
        self._handlers = handlers
        self._on_request = on_request  # sees (peer, decoded map) of each request first; may raise ProtocolError
        self._peer_ops = frozenset(peer_ops)
        self._before_reply = before_reply  # False: the request left work unfinished (a CUDA ring still open)
        self._pending: list[tuple[list[bytes], Deferred]] = []

    def serve_ready(self, timeout_ms: int) -> None:
        """Wait up to `timeout_ms` for a request; answer every waiting one and every
        deferred one whose work is done."""
        if self._socket.poll(timeout=0 if self._pending else timeout_ms):
            while self._socket.poll(0):
                self._receive(self._socket.recv_multipart(copy=False))
        elif self._pending:  # a short wait for any deferred work to finish
            wait(
                [deferred.future for _, deferred in self._pending],
                timeout=timeout_ms / 1000,
                return_when=FIRST_COMPLETED,
            )
        still: list[tuple[list[bytes], Deferred]] = []
        for envelope, deferred in self._pending:
            if deferred.future.done():
                self._answer(envelope, lambda d=deferred: d.result())
            else:
                still.append((envelope, deferred))
        self._pending = still

    def _receive(self, frames: list[zmq.Frame]) -> None:
        envelope, body = _split_envelope([f.bytes for f in frames])
        if not body:
            return  # an empty message or a bare identity: nothing to answer
        peer = Peer.of(frames[-1])
        self._answer(envelope, lambda: self.handle(C.unpack(body), peer))

    def handle(self, request: Any, peer: Peer | None) -> dict[str, Any] | Deferred:
        """One decoded request: shown to `on_request` (which may refuse it, before any
        check of its fields), checked against its op's fields, then its handler runs."""
        self._on_request(peer, request if isinstance(request, dict) else {})
        op, fields = P.validate_request(request)
        if op in self._peer_ops:
            return self._handlers[op](**fields, peer=peer)
        return self._handlers[op](**fields)

    def run(self, op: str, **fields: Any) -> dict[str, Any] | Deferred:
        """A request made inside the daemon (a console line), checked like one from a client."""
        return self.handle({"v": P.PROTOCOL_MAJOR, "op": op, **fields}, None)

    def _answer(self, envelope: list[bytes], handle: Callable[[], dict[str, Any] | Deferred]) -> None:
        """Send `handle()`'s reply, or the error it raised; park it when it is deferred."""
        try:
            answer = handle()
            if isinstance(answer, Deferred):
                self._pending.append((envelope, answer))
                return
            reply = {"ok": True, **answer}
            payload = C.pack(reply)  # a reply that cannot be encoded must not reach (and end) the I/O loop
        except P.ProtocolError as exc:
            payload = C.pack(C.error_reply(exc.code, exc.message))
        except Exception as exc:
            log.exception("control request failed")
            payload = C.pack(C.error_reply(P.ERR_INTERNAL, f"{type(exc).__name__}: {exc}"[:300]))
        if not self._before_reply():
            # A success reply tells the game it may free the ring's memory: only say it when true.
            payload = C.pack(
                C.error_reply(
                    P.ERR_INTERNAL,
                    "a CUDA ring this request ended is still in use by the "
                    "frame loop: keep its memory (free it once this daemon has exited)",
                )
            )
        try:
            self._socket.send_multipart([*envelope, payload], zmq.NOBLOCK)
        except zmq.Again:
            log.warning("a control reply was dropped: its client is gone or not reading")
        except zmq.ZMQError as exc:  # EHOSTUNREACH with ROUTER_MANDATORY; a peer that left
            log.warning("a control reply was not sent: %s", exc)
