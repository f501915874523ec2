"""Where this user's Reverie files live: one rule for every kind (style packs, captures)."""

from __future__ import annotations

import os
from pathlib import Path


def user_data_dir(kind: str, override_env: str) -> Path:
    """`$<override_env>`, else `$XDG_DATA_HOME/reverie/<kind>`, else
    `~/.local/share/reverie/<kind>`."""
    if os.environ.get(override_env):
        return Path(os.environ[override_env]).expanduser()
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data) / "reverie" / kind
