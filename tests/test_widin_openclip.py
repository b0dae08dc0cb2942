"""WIDIn on an open_clip model: a randomly initialised small open_clip CLIP saved to disk
stands for the weights a user has (no pretrained open_clip weights can be fetched offline)."""

from __future__ import annotations

import json
import sys
from dataclasses import replace

import numpy as np
import pytest
import torch

from methods.widin import (
    ClipConfig,
    DGData,
    Stage2Config,
    WidinConfig,
    WidinModel,
    WordingConfig,
    digits_dg,
    embed_images,
    fit_widin,
    load_open_clip,
    run_digits_dg,
)
from methods.widin.openclip import OpenClipImage, OpenClipText
from tools import ToolArgumentsError, call

open_clip = pytest.importorskip("open_clip")
pytestmark = pytest.mark.usefixtures("one_thread")

TINY_CLIP = {  # open_clip's CLIP class at toy size: a 2-layer ViT on 24 px, a 2-layer text tower
    "embed_dim": 32,
    "vision_cfg": {"image_size": 24, "layers": 2, "width": 64, "head_width": 32, "patch_size": 8},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}
TINY = WidinConfig(
    encoder="clip",
    clip=ClipConfig(epochs=1),
    wording=WordingConfig(steps=4, batch_size=32),
    stage2=Stage2Config(epochs=15),
    mechanism_per_domain=30,
)


def _save_architecture(folder, name: str, spec: dict, seed: int) -> tuple:
    config = folder / f"{name}.json"
    config.write_text(json.dumps(spec))
    open_clip.add_model_config(config)
    torch.manual_seed(seed)
    weights = folder / f"{name}.pt"
    torch.save(open_clip.create_model(name).state_dict(), weights)
    return config, weights


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """(model name, weights file, config JSON) of the tiny architecture."""
    folder = tmp_path_factory.mktemp("open_clip")
    config, weights = _save_architecture(folder, "ponder-tiny-clip", TINY_CLIP, seed=0)
    return "ponder-tiny-clip", weights, config


@pytest.fixture(scope="module")
def towers(checkpoint):
    return load_open_clip(*checkpoint)


@pytest.fixture(scope="module")
def small_dg() -> DGData:
    data = digits_dg(("clean", "inverted"), size=16, seed=0)
    return data.subset(np.flatnonzero(data.index < 300))


def test_loading_restores_the_checkpoint_weights(towers, checkpoint):
    saved = torch.load(checkpoint[1])
    for name, value in towers.image.model.state_dict().items():
        torch.testing.assert_close(value, saved[name])
    assert towers.text.model is towers.image.model
    assert towers.text.dim == 64 and towers.text.word_embeddings.shape == (49408, 64)


def test_a_real_word_in_the_slot_reproduces_the_sentence_embedding(towers):
    text = towers.text
    seven = text.tokenizer(["seven"])[0, 1]  # after the start-of-text token
    worded = text.word("an image of the digit [V]", text.word_embeddings[seven][None])
    torch.testing.assert_close(worded, text.encode(["an image of the digit seven"]))
    # the slot may stand mid-sentence too
    worded = text.word("a [V] picture", text.word_embeddings[seven][None])
    torch.testing.assert_close(worded, text.encode(["a seven picture"]))


def test_pseudo_words_get_gradients_and_the_towers_stay_frozen(towers):
    sentence = ["an image of the digit two"]
    before = towers.text.encode(sentence)
    tokens = torch.randn(3, towers.text.dim, requires_grad=True)
    out = towers.text.word("an image of the digit [V]", tokens)
    assert out.shape == (3, 32)
    torch.testing.assert_close(out.norm(dim=1), torch.ones(3))
    out.sum().backward()
    assert tokens.grad is not None and tokens.grad.abs().sum() > 0
    assert not any(p.requires_grad for p in towers.image.model.parameters())
    # the hook that put the pseudo-words in is gone: plain sentences embed as before
    assert not towers.text.token_embedding._forward_hooks
    torch.testing.assert_close(towers.text.encode(sentence), before)


def test_image_tower_resizes_and_normalises_as_the_model_expects(towers):
    from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD

    images = torch.rand(4, 3, 24, 24)
    mean = torch.tensor(OPENAI_DATASET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(OPENAI_DATASET_STD).view(1, 3, 1, 1)
    expected = towers.image.model.encode_image((images - mean) / std, normalize=True)
    torch.testing.assert_close(towers.image(images), expected)
    small = towers.image(torch.rand(2, 3, 16, 16))  # Digits-DG size: resized to 24 px
    assert small.shape == (2, 32)
    torch.testing.assert_close(small.norm(dim=1), torch.ones(2))


def test_open_clip_run_adds_zero_shot_and_reloads_from_the_checkpoint(towers, small_dg, tmp_path):
    report = run_digits_dg(towers.text, TINY, seed=0, data=small_dg, encoder=towers.image)
    assert set(report.accuracy) == {"linear", "mlp", "zero_shot", "widin", "widin_no_ia"}
    model = report.model
    assert model.kind == "open_clip" and model.encoder is towers.image
    path = model.save(tmp_path / "open_clip_widin.pt")
    assert path.stat().st_size < 1_000_000  # the tower is stored as where to load it from
    loaded = WidinModel.load(path)
    assert loaded.kind == "open_clip"
    images = small_dg.images[:5]
    np.testing.assert_allclose(loaded.embed(images), model.embed(images), atol=1e-5)
    np.testing.assert_array_equal(loaded.predict(images), model.predict(images))
    raw = embed_images(loaded.encoder, images)  # G is the identity on the joint space
    with torch.no_grad():
        back = loaded.text_map(torch.from_numpy(loaded.features(images))).numpy()
    np.testing.assert_allclose(back, raw, atol=1e-5)


def test_open_clip_tool_trains_and_embeds_with_the_saved_model(checkpoint, tmp_path):
    name, weights, config = checkpoint
    args = {
        "encoder": "open_clip",
        "open_clip_model": name,
        "open_clip_weights": str(weights),
        "open_clip_config": str(config),
        "targets": ["inverted"],
        "wording_steps": 2,
        "head_epochs": 5,
    }
    result = call("widin.train", args, artifact_dir=tmp_path)
    assert result.encoder == "open_clip" and "Zero-shot" in result.summary
    assert all(row.zero_shot is not None for row in result.domains)
    from PIL import Image

    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(3):
        Image.new("RGB", (20, 20), (40 * i, 90, 200)).save(folder / f"{i}.png")
    embed_args = {"model_path": str(result.model_path), "folder": str(folder)}
    embedded = call("widin.embed", embed_args, artifact_dir=tmp_path)
    assert embedded.n_images == 3 and embedded.dim == 32


def test_open_clip_tool_arguments_go_together(checkpoint, tmp_path):
    with pytest.raises(ToolArgumentsError, match="needs open_clip_model and open_clip_weights"):
        call("widin.train", {"encoder": "open_clip", "open_clip_model": "x"})
    with pytest.raises(ToolArgumentsError, match="need encoder 'open_clip'"):
        call("widin.train", {"encoder": "clip", "open_clip_weights": "w.pt"})


def test_bad_open_clip_sources_name_what_is_wrong(checkpoint, tmp_path):
    name, weights, config = checkpoint
    with pytest.raises(FileNotFoundError, match="pretrained tags would download"):
        load_open_clip("ViT-B-32", "openai")
    with pytest.raises(FileNotFoundError, match="model config"):
        load_open_clip(name, weights, tmp_path / "missing.json")
    with pytest.raises(ValueError, match="unknown open_clip architecture 'no-such-net'"):
        load_open_clip("no-such-net", weights)
    with pytest.raises(ValueError, match="remote schema"):
        load_open_clip("hf-hub:someone/model", weights)
    narrow = {**TINY_CLIP, "embed_dim": 16}
    _, other_weights = _save_architecture(tmp_path, "ponder-narrow-clip", narrow, seed=1)
    with pytest.raises(ValueError, match="do not fit architecture 'ponder-tiny-clip'"):
        load_open_clip(name, other_weights)


def test_open_clip_pairing_and_saving_mistakes_are_refused(towers, checkpoint, small_dg, tmp_path):
    other = load_open_clip(*checkpoint)  # the same checkpoint, a different model object
    train = small_dg.domain("clean").subset(np.arange(40))
    with pytest.raises(ValueError, match="same open_clip model"):
        fit_widin(train, train, other.text, TINY, encoder=towers.image)
    with pytest.raises(ValueError, match="needs WidinConfig\\(encoder='clip'\\)"):
        run_digits_dg(
            towers.text, replace(TINY, encoder="unimodal"), data=small_dg, encoder=towers.image
        )
    in_memory = OpenClipImage(towers.image.model)
    model = fit_widin(train, train, towers.text, TINY, encoder=in_memory)
    with pytest.raises(ValueError, match="built in memory"):
        model.save(tmp_path / "x.pt")
    with pytest.raises(ValueError, match="must contain \\[V\\] exactly once"):
        towers.text.word("no slot here", torch.zeros(1, towers.text.dim))
    with pytest.raises(ValueError, match="tokens must have shape"):
        towers.text.word("a [V]", torch.zeros(1, 5))
    with pytest.raises(ValueError, match="no token embedding table"):
        OpenClipText(torch.nn.Linear(2, 2), towers.text.tokenizer)


def test_missing_open_clip_package_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "open_clip", None)
    with pytest.raises(ImportError, match="ponder\\[open-clip\\]"):
        load_open_clip("ViT-B-32", __file__)


def test_benchmark_runs_on_an_open_clip_checkpoint(checkpoint, tmp_path):
    from benchmarks import widin

    name, weights, config = checkpoint
    threads = torch.get_num_threads()
    try:
        widin.main(
            ["--quick", "--encoder", "open_clip", "--open-clip-model", name]
            + ["--open-clip-weights", str(weights), "--open-clip-config", str(config)]
            + ["--out", str(tmp_path)]
        )
        with pytest.raises(SystemExit):  # the model and its weights go with the encoder
            widin.main(["--quick", "--encoder", "open_clip", "--out", str(tmp_path)])
    finally:
        torch.set_num_threads(threads)
    saved = json.loads((tmp_path / f"widin_open_clip_{name}_quick.json").read_text())
    assert saved["encoder"] == "open_clip" and saved["config"]["encoder"] == "clip"
    (row,) = saved["rows"]
    assert set(row["accuracy"]) == {"linear", "mlp", "zero_shot", "widin", "widin_no_ia"}
