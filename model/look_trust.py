"""The history trust a stream settles at, per look: one number for the weights, and for the
looks that need another, their own.

Why: the trust (added to the history gate's logit) decides how much of the warped previous
output the network keeps. One global value cannot put every look's frame-to-frame change
near its ground truth's: thermal's truth is the steadiest of all (E_warp 0.0006 against
0.0045-0.027 for the others) and its output changed 3.7x as much at trust 0, while a trust
that steadies thermal freezes the rest (docs/model.md). So the weights' config.json may give
a trust per trained style ("inference": {"history_trust": D, "look_trust": {"thermal": 3}}).

A prompt is not a style: the daemon sees an embedding (through the prompt bank: a blend of
the training prompts' embeddings). Its trust is the styles' trusts weighted by how much of
each style the embedding holds, measured the way the prompt bank measures it (softmax of
the cosine similarities to the training prompts at the bank's temperature, summed per
style), so a new wording of thermal gets thermal's trust and a blend of two looks a blend.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np


@functools.lru_cache(maxsize=1)
def _style_bank() -> tuple[tuple[str, ...], np.ndarray]:
    """(the style of each training prompt, their embeddings (P, D)) from the shipped table."""
    from .text import load_prompt_table
    from .world.looks import STYLES

    table = load_prompt_table()
    rows = [(name, table[p]) for name, style in STYLES.items() for p in style.train_prompts if p in table]
    if not rows:
        raise RuntimeError("a per-look history trust needs the known prompts' table (model/prompts.npz)")
    return tuple(n for n, _ in rows), np.stack([v for _, v in rows]).astype(np.float32)


@dataclass(frozen=True)
class LookTrust:
    """`default` for every look, `by_style` ((style, trust) pairs) for the trained styles that
    settle at another; called with a prompt embedding it gives that prompt's trust."""

    default: float = 0.0
    by_style: tuple[tuple[str, float], ...] = ()

    @classmethod
    def of(cls, default: float, by_style: Mapping[str, float] | None = None) -> LookTrust:
        from .world.looks import STYLES

        unknown = sorted(set(by_style or {}) - set(STYLES))
        if unknown:
            raise ValueError(
                f"a trust per look is for the trained styles ({', '.join(STYLES)}); not {', '.join(unknown)}"
            )
        return cls(float(default), tuple(sorted((k, float(v)) for k, v in (by_style or {}).items())))

    @classmethod
    def from_json(cls, inference: Mapping) -> LookTrust:
        """From the "inference" entries of a weights config.json (`weights.look_trust`); none:
        the network as trained (0 everywhere)."""
        return cls.of(inference.get("history_trust", 0.0), inference.get("look_trust"))

    def to_json(self) -> dict:
        """The "inference" entries of a weights config.json."""
        return {"history_trust": self.default, **({"look_trust": dict(self.by_style)} if self.by_style else {})}

    def __call__(self, embedding: np.ndarray) -> float:
        if not self.by_style:
            return self.default
        from .text import BANK_TEMPERATURE

        styles, bank = _style_bank()
        similarity = bank @ np.asarray(embedding, np.float32)
        weights = np.exp((similarity - similarity.max()) / BANK_TEMPERATURE)
        weights /= weights.sum()
        own = dict(self.by_style)
        return float(sum(w * own.get(s, self.default) for s, w in zip(styles, weights)))

    def describe(self) -> str:
        return f"{self.default:g}" + "".join(f", {s} {t:g}" for s, t in self.by_style)
