"""The trained looks (toon, watercolor, pencil...) that the world renders as ground truth,
with the prompts that name them. Each look is a `Style` here (a name, the shader's index,
the prompts): `STYLES` are the trained ones.

Training prompts teach the model; held-out prompts are kept for evaluation only (a test
checks they never appear among the training prompts of any style). `anchored` styles put
detail on surfaces that the game's color does not show, so only history can keep it
steady from frame to frame.

`EXTRA_STYLES` are rendered the same way but never trained on: nothing driven by
`STYLES` (training, the prompt bank, the model card's evaluations) sees them. They are
the ground truth for fine-tuning a new look onto the shipped model (`reverie finetune`,
docs/model.md), where a style the model cannot already do is the honest test."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Style:
    name: str
    index: int  # u_style in shaders/style.frag
    anchored: bool
    train_prompts: tuple[str, ...]
    heldout_prompts: tuple[str, ...]


STYLES: dict[str, Style] = {
    s.name: s
    for s in [
        Style(
            "toon",
            0,
            False,
            (
                "anime",
                "cel-shaded cartoon",
                "toon style",
                "anime style with bold outlines",
                "flat cel shading",
                "cartoon rendering with ink lines",
            ),
            ("japanese animation look", "saturday morning cartoon"),
        ),
        Style(
            "watercolor",
            1,
            True,
            (
                "watercolor",
                "watercolor painting",
                "soft watercolor on paper",
                "pastel watercolor wash",
                "hand-painted watercolor",
                "loose aquarelle painting",
            ),
            ("wet pigment on cold-press paper", "a travel sketchbook in watercolour"),
        ),
        Style(
            "pencil",
            2,
            True,
            (
                "pencil sketch",
                "graphite drawing",
                "cross-hatched pencil art",
                "hatching on white paper",
                "hand-drawn pencil shading",
                "sketchbook drawing",
            ),
            ("charcoal-free graphite study", "an architect's pencil rendering"),
        ),
        Style(
            "winter",
            3,
            True,
            (
                "winter night",
                "snowy night",
                "snow-covered world at night",
                "cold moonlit snowscape",
                "fresh snow under a dark sky",
                "frozen winter evening",
            ),
            ("midnight after a blizzard", "a quiet december night with snowfall"),
        ),
        Style(
            "oil",
            4,
            True,
            (
                "oil painting",
                "thick brush strokes",
                "impasto oil painting",
                "painterly canvas",
                "expressive oil on canvas",
                "classical oil painting",
            ),
            ("a gallery canvas in heavy oils", "palette-knife painting"),
        ),
        Style(
            "mosaic",
            5,
            True,
            (
                "stained glass",
                "mosaic",
                "stained glass window",
                "tiled mosaic",
                "leaded glass art",
                "colorful glass tiles",
            ),
            ("cathedral window glass", "byzantine tile work"),
        ),
        Style(
            "noir",
            6,
            False,
            (
                "film noir",
                "black and white noir",
                "high-contrast monochrome",
                "noir detective film",
                "dark black and white cinema",
                "moody monochrome",
            ),
            ("1940s crime movie look", "grayscale hardboiled thriller"),
        ),
        Style(
            "thermal",
            7,
            False,
            (
                "thermal camera",
                "infrared heat vision",
                "thermal imaging",
                "heat map view",
                "predator vision",
                "false-color infrared",
            ),
            ("FLIR night-vision feed", "military heat-sensor footage"),
        ),
    ]
}


# Not in training. blueprint: white ink lines where depth jumps or the surface turns, on
# deep blue paper, with a faint drafting grid fixed to surfaces; the game's colors are
# gone. No trained style is blue or has that grid, so the shipped model cannot make it.
EXTRA_STYLES: dict[str, Style] = {
    s.name: s
    for s in [
        Style(
            "blueprint",
            8,
            True,
            (
                "blueprint",
                "architectural blueprint",
                "white lines on blue paper",
                "cyanotype technical drawing",
                "drafting blueprint with grid",
                "engineer's blueprint plan",
            ),
            ("a blueprint of the scene", "white-on-blue construction drawing"),
        ),
    ]
}
ALL_STYLES: dict[str, Style] = {**STYLES, **EXTRA_STYLES}  # what the world can render


def style(name: str) -> Style:
    """The style called `name` (trained or extra), or a ValueError listing the known ones."""
    try:
        return ALL_STYLES[name]
    except KeyError:
        raise ValueError(f"unknown style {name!r}; known: {', '.join(ALL_STYLES)}") from None


# what the model is trained on
TRAIN_PROMPTS: tuple[str, ...] = tuple(p for s in STYLES.values() for p in s.train_prompts)
