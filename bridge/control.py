"""Control-plane plumbing shared by the daemon and its clients: message encoding with
bounds, default endpoints, the local-only rule, and CURVE security for network binds."""

from __future__ import annotations

import ipaddress
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import msgpack
import zmq
import zmq.auth

from . import protocol as P

SERVER_KEY_NAME = "server"  # <dir>/server.key_secret (daemon), <dir>/server.key (clients)
CLIENT_KEY_NAME = "client"
AUTHORIZED_DIR = "authorized_clients"  # public keys of clients allowed to connect


def pack(obj: Any) -> bytes:
    """Encode one message (a map) as msgpack."""
    return msgpack.packb(obj, use_bin_type=True)


def unpack(frames: list[bytes], limit: int = P.MAX_CONTROL_BYTES) -> Any:
    """Decode one single-part message; raise ProtocolError for anything malformed or too big."""
    if len(frames) != 1:
        raise P.ProtocolError(P.ERR_MALFORMED, f"a message is one frame, got {len(frames)}")
    data = frames[0]
    if len(data) > limit:
        raise P.ProtocolError(P.ERR_TOO_LARGE, f"message of {len(data)} bytes exceeds the limit of {limit}")
    try:
        return msgpack.unpackb(data, raw=False, strict_map_key=True)
    except msgpack.StackError:
        raise P.ProtocolError(P.ERR_MALFORMED, "undecodable msgpack: nested too deep") from None
    except Exception as exc:  # msgpack raises many types for bad input
        # Name the problem (bad UTF-8, a non-string map key, trailing bytes...), bounded.
        detail = str(exc)[:120]
        raise P.ProtocolError(
            P.ERR_MALFORMED, f"undecodable msgpack: {type(exc).__name__}{': ' if detail else ''}{detail}"
        ) from None


def error_reply(code: str, message: str) -> dict[str, Any]:
    return {"ok": False, "error": {"code": code, "message": message}}


class UnsafeRuntimeDir(PermissionError):
    """The default socket folder exists but is not private to this user (a link, another
    user's, or open to group or others): its sockets could be someone else's."""


def runtime_dir() -> Path:
    """Where default ipc:// sockets live: `$XDG_RUNTIME_DIR/reverie-<uid>`, else
    `/tmp/reverie-<uid>` (the temp folder), private to this user. Made 0700; one that
    exists must be a real folder (not a link), ours, with no group or other permission
    bits, else `UnsafeRuntimeDir`: in a shared /tmp another user could have made it first
    and then own, or replace, every socket in it."""
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    path = Path(base) / f"reverie-{os.geteuid()}"
    try:
        path.mkdir(mode=0o700)
    except FileExistsError:
        pass
    else:
        os.chmod(path, 0o700)  # whatever the umask
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        problem = f"is a symbolic link (to {os.readlink(path)})"
    elif not stat.S_ISDIR(info.st_mode):
        problem = "is not a folder"
    elif info.st_uid != os.geteuid():
        problem = f"is not yours (you are uid {os.geteuid()})"
    elif info.st_mode & 0o077:
        problem = "is open to group or others (it must be 0700)"
    else:
        return path
    raise UnsafeRuntimeDir(
        f"the socket folder {path} (owner uid {info.st_uid}, mode {stat.S_IMODE(info.st_mode):04o}) {problem}: its"
        " sockets could be another user's. Remove it (or have its owner remove it), set XDG_RUNTIME_DIR to a private"
        " folder, or pass --control, --events and --frames (or set REVERIE_CONTROL, REVERIE_EVENTS, REVERIE_FRAMES)"
    )


@dataclass(frozen=True)
class Endpoints:
    """The daemon's three sockets: control (REQ clients, a ROUTER daemon), events (PUB/SUB), frames (ROUTER/DEALER)."""

    control: str
    events: str
    frames: str

    @classmethod
    def default(cls, **given: str | None) -> Endpoints:
        """An endpoint in `given` (control=, events=, frames=), else `default_endpoint`."""
        return cls(**{name: given.get(name) or default_endpoint(name) for name in ("control", "events", "frames")})


def default_endpoint(name: str) -> str:
    """$REVERIE_CONTROL (_EVENTS, _FRAMES), else a socket in `runtime_dir()`: the folder is
    only made, and checked, for an endpoint nobody named."""
    return os.environ.get(f"REVERIE_{name.upper()}") or f"ipc://{runtime_dir()}/{name}"


def is_local_endpoint(endpoint: str) -> bool:
    """True for ipc://, inproc:// and tcp:// on a loopback address."""
    scheme, _, rest = endpoint.partition("://")
    if scheme in ("ipc", "inproc"):
        return True
    if scheme != "tcp":
        return False
    host = urlsplit(f"//{rest}").hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # an interface name or "*": not provably local


def generate_keys(directory: Path) -> None:
    """Write a server key pair and one client key pair; authorize the client."""
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    zmq.auth.create_certificates(str(directory), SERVER_KEY_NAME)
    zmq.auth.create_certificates(str(directory), CLIENT_KEY_NAME)
    for secret in directory.glob("*.key_secret"):
        os.chmod(secret, 0o600)
    authorized = directory / AUTHORIZED_DIR
    authorized.mkdir(exist_ok=True)
    (authorized / f"{CLIENT_KEY_NAME}.key").write_bytes((directory / f"{CLIENT_KEY_NAME}.key").read_bytes())


def secure_server(context: zmq.Context, sockets: list[zmq.Socket], keys: Path):
    """Turn on CURVE for server sockets; only public keys in keys/authorized_clients may connect.
    Returns the authenticator thread (stop it on shutdown)."""
    from zmq.auth.thread import ThreadAuthenticator

    secret = keys / f"{SERVER_KEY_NAME}.key_secret"
    authorized = keys / AUTHORIZED_DIR
    if not secret.is_file() or not authorized.is_dir():
        raise FileNotFoundError(f"CURVE keys: need {secret} and {authorized}/ (make them with `reverie keys DIR`)")
    public, private = zmq.auth.load_certificate(str(secret))
    auth = ThreadAuthenticator(context)
    auth.start()
    auth.configure_curve(domain="*", location=str(authorized))
    for sock in sockets:
        sock.curve_secretkey = private
        sock.curve_publickey = public
        sock.curve_server = True
    return auth


def secure_client(sock: zmq.Socket, keys: Path) -> None:
    """CURVE on a client socket, from keys/server.key and keys/client.key_secret."""
    server_public, _ = zmq.auth.load_certificate(str(keys / f"{SERVER_KEY_NAME}.key"))
    public, private = zmq.auth.load_certificate(str(keys / f"{CLIENT_KEY_NAME}.key_secret"))
    sock.curve_serverkey = server_public
    sock.curve_publickey = public
    sock.curve_secretkey = private
