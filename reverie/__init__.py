"""Reverie: live-stream diffusion for games. Subpackages: `reverie.bridge` (frames in and
out, control plane, daemon) and, as they land, `reverie.model` and `reverie.demos`."""

__version__ = "0.1.0"
