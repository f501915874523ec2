"""How much memory a new ring may take: the machine's MemAvailable, bounded by the
daemon's memory cgroup (a container's limit), so that a ring too large is refused with
a reason instead of the daemon being killed by the OOM killer while it allocates."""

from __future__ import annotations

from pathlib import Path

_CGROUP_ROOT = Path("/sys/fs/cgroup")


def available_bytes() -> int | None:
    """The least room any limit leaves, in bytes; None where nothing can be read."""
    limits = [room for room in (_meminfo_available(), *_cgroup_rooms()) if room is not None]
    return min(limits) if limits else None


def _meminfo_available() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text(encoding="ascii").splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cgroup_rooms() -> list[int | None]:
    """limit - (usage - reclaimable file cache) for this cgroup and each ancestor (v1 or v2)."""
    try:
        lines = Path("/proc/self/cgroup").read_text(encoding="ascii").splitlines()
    except OSError:
        return []
    rooms: list[int | None] = []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):  # v1
            folder = _CGROUP_ROOT / "memory" / path.lstrip("/")
            rooms += [
                _room(f, "memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file")
                for f in _up(folder, _CGROUP_ROOT / "memory")
            ]
        elif controllers == "" and (_CGROUP_ROOT / "cgroup.controllers").exists():  # v2
            folder = _CGROUP_ROOT / path.lstrip("/")
            rooms += [_room(f, "memory.max", "memory.current", "inactive_file") for f in _up(folder, _CGROUP_ROOT)]
    return rooms


def _up(folder: Path, root: Path) -> list[Path]:
    folders = [folder]
    while folder != root and folder.parent != folder:
        folder = folder.parent
        folders.append(folder)
    return folders


def _room(folder: Path, limit_file: str, usage_file: str, inactive_key: str) -> int | None:
    try:
        limit_text = (folder / limit_file).read_text(encoding="ascii").strip()
        if limit_text == "max" or int(limit_text) >= 2**62:
            return None  # no limit here
        usage = int((folder / usage_file).read_text(encoding="ascii"))
        inactive = 0
        for line in (folder / "memory.stat").read_text(encoding="ascii").splitlines():
            key, _, value = line.partition(" ")
            if key == inactive_key:
                inactive = int(value)
        return int(limit_text) - max(usage - inactive, 0)
    except (OSError, ValueError):
        return None
