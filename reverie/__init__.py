"""Reverie: live-stream diffusion for games. This package is the roof: the `reverie`
command (`cli.py`) and what joins the wings (`model_bench.py`). The wings are
`reverie.bridge` (frames in and out, the control plane, the daemon), `reverie.model` (the
denoiser, its training and backends), `reverie.modding` (style packs, captures, rendering,
fine-tuning) and `reverie.demos`; `reverie.common` is the ground floor they all share."""

__version__ = "0.1.0"
