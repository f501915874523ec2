"""Style packs (bridge/packs.py): every malformed style.toml gets errors that name the
file, the line and the field; paths stay inside the pack; weights are checked; what
write_pack writes reads back; the shipped packs all validate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from model_fixtures import save_tiny_weights

from reverie.bridge import packs as S
from reverie.modding.packs_cli import network_loader
from reverie.model.world.images import write_png

GOOD = """\
name = "neon"
author = "A. Modder"
prompt = "neon city at night, wet streets"
steps = 2
strength = 0.8
seed = 7
transition_frames = 24
"""


def pack(tmp_path: Path, text: str, name: str = "neon") -> Path:
    folder = tmp_path / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "style.toml").write_text(text)
    return folder


def errors_of(folder: Path) -> list[str]:
    with pytest.raises(S.StylePackError) as caught:
        S.load_pack(folder)
    return [str(e) for e in caught.value.errors]


def test_a_good_pack_loads_with_its_values(tmp_path):
    p = S.load_pack(pack(tmp_path, GOOD))
    assert (p.name, p.author, p.prompt, p.steps, p.strength, p.seed, p.transition_frames) == (
        "neon",
        "A. Modder",
        "neon city at night, wet streets",
        2,
        0.8,
        7,
        24,
    )
    assert p.weights is None and p.thumbnail is None
    assert p.describe()["has_weights"] is False


@pytest.mark.parametrize(
    "replace, expected",
    [
        # a TOML syntax error: tomllib's line, the field written on it
        (("steps = 2", "steps = 2 2"), "style.toml:4: field 'steps': TOML syntax error: "),
        (("seed = 7", "seed = "), "style.toml:6: field 'seed': TOML syntax error: "),
        # wrong type
        (("steps = 2", 'steps = "two"'), "style.toml:4: field 'steps': must be an integer, got a string 'two'"),
        (("strength = 0.8", "strength = true"), "style.toml:5: field 'strength': must be a number, got a boolean True"),
        (('author = "A. Modder"', "author = 3"), "style.toml:2: field 'author': must be a string, got an integer 3"),
        # out of range
        (("steps = 2", "steps = 12"), "style.toml:4: field 'steps': must be 1..8, got 12"),
        (("strength = 0.8", "strength = 1.5"), "style.toml:5: field 'strength': must be 0.0..1.0, got 1.5"),
        (("seed = 7", "seed = -1"), "style.toml:6: field 'seed': must be 0..9223372036854775807, got -1"),
        (
            ("transition_frames = 24", "transition_frames = 10001"),
            "style.toml:7: field 'transition_frames': must be 0..10000, got 10001",
        ),
        (('name = "neon"', 'name = "neon city"'), "style.toml:1: field 'name': must be letters, digits"),
        # unknown field, with a did-you-mean
        (("seed = 7", "sead = 7"), "style.toml:6: field 'sead': unknown field; did you mean 'seed'?"),
        (("seed = 7", "[preset.neon]"), "style.toml:6: field 'preset': unknown field"),
        # missing prompt
        (('prompt = "neon city at night, wet streets"', ""), "style.toml:1: field 'prompt': required, but missing"),
        (
            ('prompt = "neon city at night, wet streets"', 'prompt = "  "'),
            "style.toml:3: field 'prompt': must not be empty",
        ),
    ],
)
def test_malformed_style_toml_names_line_and_field(tmp_path, replace, expected):
    folder = pack(tmp_path, GOOD.replace(*replace))
    errors = errors_of(folder)
    assert any(e.startswith(str(folder / "style.toml")) for e in errors)
    assert any(expected in e for e in errors), errors


def test_every_error_of_a_file_is_reported_at_once(tmp_path):
    text = (
        GOOD.replace("steps = 2", "steps = 0")
        .replace("seed = 7", "colour = 1")
        .replace('prompt = "neon city at night, wet streets"\n', "")
    )
    errors = errors_of(pack(tmp_path, text))
    assert [e.split(": ", 1)[1].split(":")[0] for e in errors] == ["field 'prompt'", "field 'steps'", "field 'colour'"]


def test_a_key_inside_a_multiline_prompt_is_not_taken_for_the_field(tmp_path):
    text = 'name = "x"\nprompt = """\nsteps = 3\nfoggy"""\nsteps = 99\n'
    assert any(":5: field 'steps': must be 1..8, got 99" in e for e in errors_of(pack(tmp_path, text)))


@pytest.mark.parametrize(
    "value, expected",
    [
        ('"../outside"', "points outside the pack folder"),
        ('"/etc"', "must be a path relative to the pack folder"),
        ('"link"', "points outside the pack folder"),
        ('"nowhere"', "'nowhere' does not exist in the pack folder"),
    ],
)
def test_weights_and_thumbnail_must_stay_inside_the_pack(tmp_path, value, expected):
    (tmp_path / "outside").mkdir()
    folder = pack(tmp_path, GOOD + f"weights = {value}\nthumbnail = {value}\n")
    (folder / "link").symlink_to(tmp_path / "outside")
    errors = errors_of(folder)
    assert any(":8: field 'weights': " in e and expected in e for e in errors), errors
    assert any(":9: field 'thumbnail': " in e and expected in e for e in errors), errors


def test_weights_must_be_a_published_weights_folder(tmp_path):
    folder = pack(tmp_path, GOOD + 'weights = "weights"\n')
    (folder / "weights").mkdir()
    assert any(":8: field 'weights': weights/ lacks model.safetensors and config.json" in e for e in errors_of(folder))
    save_tiny_weights(folder / "weights")
    assert S.load_pack(folder).weights == (folder / "weights").resolve()
    # naming the model.safetensors file works too
    (folder / "style.toml").write_text(GOOD + 'weights = "weights/model.safetensors"\n')
    assert S.load_pack(folder).weights == (folder / "weights").resolve()
    # a truncated file is caught from its header, without loading it
    data = (folder / "weights" / "model.safetensors").read_bytes()
    (folder / "weights" / "model.safetensors").write_bytes(data[:-100])
    assert any(":8: field 'weights': weights/model.safetensors: truncated" in e for e in errors_of(folder))


def test_deep_check_loads_the_weights_into_the_network(tmp_path):
    folder = pack(tmp_path, GOOD + 'weights = "weights"\n')
    save_tiny_weights(folder / "weights")
    assert S.load_pack(folder, load_weights=network_loader()).weights is not None
    meta = json.loads((folder / "weights" / "config.json").read_text())
    meta["config"]["network"]["widths"] = [8, 16]  # another architecture: the shapes do not fit
    (folder / "weights" / "config.json").write_text(json.dumps(meta))
    S.load_pack(folder)  # the light check cannot know
    with pytest.raises(S.StylePackError) as caught:
        S.load_pack(folder, load_weights=network_loader())
    assert "style.toml:8: field 'weights': do not load into this version's network" in str(caught.value)


def test_thumbnail_must_be_a_png(tmp_path):
    folder = pack(tmp_path, GOOD + 'thumbnail = "thumb.png"\n')
    (folder / "thumb.png").write_text("not an image")
    assert any(":8: field 'thumbnail': thumb.png is not a PNG image" in e for e in errors_of(folder))
    write_png(folder / "thumb.png", __import__("numpy").zeros((4, 4, 3), "uint8"))
    assert S.load_pack(folder).thumbnail == (folder / "thumb.png").resolve()


def test_write_pack_round_trips_with_weights_and_thumbnail(tmp_path):
    weights = save_tiny_weights(tmp_path / "run")
    write_png(tmp_path / "t.png", __import__("numpy").zeros((4, 4, 3), "uint8"))
    written = S.write_pack(
        tmp_path / "packs" / "mine",
        name="mine",
        author="Finetune",
        prompt='a "quoted"\nprompt',
        steps=3,
        strength=0.5,
        seed=2**40,
        transition_frames=0,
        weights=weights,
        thumbnail=tmp_path / "t.png",
    )
    again = S.load_pack(tmp_path / "packs" / "mine", load_weights=network_loader())
    assert written == again
    assert (again.prompt, again.steps, again.strength, again.seed, again.transition_frames) == (
        'a "quoted"\nprompt',
        3,
        0.5,
        2**40,
        0,
    )
    assert (again.weights / "model.safetensors").is_file() and again.thumbnail.name == "thumbnail.png"
    with pytest.raises(FileExistsError):
        S.write_pack(tmp_path / "packs" / "mine", name="mine", prompt="x")
    assert S.write_pack(tmp_path / "packs" / "mine", name="mine", prompt="x", overwrite=True).weights is None
    with pytest.raises(S.StylePackError, match="field 'steps': must be 1..8, got 9"):
        S.write_pack(tmp_path / "bad", name="bad", prompt="x", steps=9)


def test_catalog_skips_broken_packs_and_later_folders_override(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    pack(a, GOOD, "neon")
    pack(a, GOOD.replace("steps = 2", "steps = 99"), "broken")
    pack(b, GOOD.replace("seed = 7", "seed = 8"), "neon2")
    catalog = S.load_catalog([a, b])
    assert set(catalog.packs) == {"neon"} and catalog.packs["neon"].seed == 8
    assert len(catalog.errors) == 1 and "broken/style.toml:4: field 'steps'" in str(catalog.errors[0])
    pack(b, GOOD, "neon3")  # the same name twice in one folder
    assert any("'neon' is already the name of" in str(e) for e in S.load_catalog([b]).errors)


def test_user_styles_folder_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("REVERIE_STYLES", str(tmp_path / "mine"))
    assert S.user_styles_dir() == tmp_path / "mine"
    monkeypatch.delenv("REVERIE_STYLES")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert S.user_styles_dir() == tmp_path / "data" / "reverie" / "styles"
    assert S.style_dirs([tmp_path])[0] == S.SHIPPED_STYLES and S.style_dirs([tmp_path])[-1] == tmp_path


def test_the_shipped_packs_all_validate():
    folders = S.pack_folders(S.SHIPPED_STYLES)
    assert {f.name for f in folders} >= {"anime", "winter", "oil", "watercolor", "pencil"}
    for folder in folders:
        p = S.load_pack(folder, load_weights=network_loader())
        assert p.name == folder.name and p.author
