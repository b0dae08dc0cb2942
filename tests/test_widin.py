"""The WIDIn library: Digits-DG, the text encoder's word slot, stage 1, decomposition, errors."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from methods.widin import (
    DOMAINS,
    DGData,
    SimCLRConfig,
    Stage2Config,
    TextEncoder,
    WidinConfig,
    WidinModel,
    WordingConfig,
    class_embeddings,
    decompose,
    digits_dg,
    load_image_folder,
    probe_accuracy,
    run_digits_dg,
    train_simclr,
    train_text_map,
    train_wording,
    word_images,
)

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = WidinConfig(
    simclr=SimCLRConfig(epochs=1, batch_size=128),
    wording=WordingConfig(steps=4, map_epochs=10, batch_size=32),
    stage2=Stage2Config(epochs=15),
    mechanism_per_domain=30,
)


@pytest.fixture(scope="module")
def text(embedder) -> TextEncoder:
    return TextEncoder(embedder.model_dir)


@pytest.fixture(scope="module")
def small_dg() -> DGData:
    data = digits_dg(("clean", "inverted", "noisy"), size=16, seed=0)
    return data.subset(np.flatnonzero(data.index < 600))  # 600 digits keep the tests quick


def test_digits_dg_draws_every_digit_in_every_domain_reproducibly():
    data = digits_dg(size=16, seed=3)
    assert data.images.shape == (6 * 1797, 3, 16, 16) and data.domain_names == DOMAINS
    assert data.images.min() >= 0 and data.images.max() <= 1
    clean, inverted = data.domain("clean"), data.domain("inverted")
    np.testing.assert_allclose(clean.images, 1 - inverted.images, atol=1e-6)
    np.testing.assert_array_equal(clean.labels, data.domain("sketch").labels)
    again = digits_dg(("coloured",), size=16, seed=3)
    np.testing.assert_array_equal(again.images, data.domain("coloured").images)
    other = digits_dg(("coloured",), size=16, seed=4)
    assert not np.allclose(other.images, again.images)


def test_word_slot_with_a_real_word_equals_the_plain_sentence(text):
    ids = text.tokenizer("seven", add_special_tokens=False)["input_ids"]
    worded = text.word("an image of the digit [V]", text.word_embeddings[ids])
    plain = text.encode(["an image of the digit seven"])
    reference = torch.from_numpy(text.st.encode(["an image of the digit seven"]))
    torch.testing.assert_close(worded, plain, atol=1e-5, rtol=0)
    torch.testing.assert_close(plain, reference, atol=1e-5, rtol=0)


def test_pseudo_words_receive_gradients_through_the_frozen_encoder(text):
    tokens = torch.randn(3, text.dim, requires_grad=True)
    text.word("an image of [V] drawn by hand", tokens).sum().backward()
    assert tokens.grad is not None and tokens.grad.abs().sum() > 0
    assert all(p.grad is None for p in text.bert.parameters())


def test_instance_alignment_makes_each_wording_identify_its_image(text, small_dg):
    torch.manual_seed(0)
    src = small_dg.domain("clean").subset(np.arange(200))
    feats = np.random.default_rng(0).normal(size=(200, 16)).astype(np.float32)
    feats += np.eye(10, 16, dtype=np.float32)[src.labels] * 3
    cfg = WordingConfig(steps=30, map_epochs=40, batch_size=32)
    t_c = class_embeddings(text, src.class_names, cfg.class_template)
    g = train_text_map(feats, src.labels, t_c, cfg)
    with torch.no_grad():
        img = g(torch.from_numpy(feats)).numpy()

    def retrieval(lambda_ia: float) -> float:
        proj = train_wording(feats, src.labels, g, t_c, text, replace(cfg, lambda_ia=lambda_ia))
        t_x = word_images(proj, feats[:48], text, cfg.template)
        return float(((t_x @ img[:48].T).argmax(1) == np.arange(48)).mean())

    assert retrieval(1.0) > retrieval(0.0) + 0.1


def test_decompose_is_the_parallelogram_and_checks_shapes():
    x, t_x, t_c = (np.random.default_rng(i).normal(size=(4, 5)) for i in range(3))
    np.testing.assert_allclose(decompose(x, t_x, t_c, 1.0), x - t_x + t_c, rtol=1e-6)
    np.testing.assert_allclose(decompose(x, t_x, t_c, 0.0), x, rtol=1e-6)
    with pytest.raises(ValueError, match="must share a shape"):
        decompose(x, t_x[:, :3], t_c, 1.0)


def test_probe_finds_a_linearly_separable_domain():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 50)
    x = rng.normal(size=(150, 4)) + 4 * np.eye(3, 4)[y]
    assert probe_accuracy(x, y) > 0.95
    assert probe_accuracy(rng.normal(size=(150, 4)), y) < 0.6


def test_run_reports_every_method_on_every_domain_and_saves_a_usable_model(
    text, small_dg, tmp_path
):
    report = run_digits_dg(text, TINY, seed=0, data=small_dg)
    assert set(report.accuracy) == {"linear", "mlp", "widin", "widin_no_ia"}
    for acc in report.accuracy.values():
        assert set(acc) == {"clean", "inverted", "noisy"} and all(0 <= a <= 1 for a in acc.values())
    assert report.in_domain("linear") > 0.5  # the source is learnt even by a one-epoch encoder
    assert report.k in TINY.stage2.k_grid and report.k_no_ia in TINY.stage2.k_grid
    assert set(report.mechanism) >= {"domain_on_delta", "domain_on_x", "domain_on_x_e"}
    assert report.mechanism["domain_on_delta"] > 1 / 3  # three domains: chance is a third
    model = report.model
    images = small_dg.images[:5]
    path = model.save(tmp_path / "m.pt")
    loaded = WidinModel.load(path)
    np.testing.assert_allclose(loaded.embed(images), model.embed(images), atol=1e-5)
    np.testing.assert_array_equal(loaded.predict(images), model.predict(images))
    assert loaded.embed(images).shape == (5, text.dim)


def test_image_folder_loader_reads_the_pacs_layout(tmp_path, small_dg):
    from PIL import Image

    for d, domain in enumerate(("photo", "sketch")):
        for c in ("dog", "cat"):
            folder = tmp_path / domain / c
            folder.mkdir(parents=True)
            for i in range(2):
                img = (small_dg.images[d * 4 + i].transpose(1, 2, 0) * 255).astype(np.uint8)
                Image.fromarray(img).save(folder / f"{i}.png")
    data = load_image_folder(tmp_path, size=16)
    assert len(data) == 8 and data.domain_names == ("photo", "sketch")
    assert data.class_names == ("cat", "dog") and data.images.shape[1:] == (3, 16, 16)


def test_bad_inputs_name_the_argument(tmp_path, text, small_dg):
    with pytest.raises(ValueError, match="domains must be drawn from"):
        digits_dg(("clean", "photo"))
    with pytest.raises(ValueError, match="domains is empty"):
        digits_dg(())
    with pytest.raises(ValueError, match="domain must be one of"):
        small_dg.domain("sketch")
    with pytest.raises(ValueError, match=r"images must have shape \(N, 3, H, W\)"):
        DGData(np.zeros((2, 1, 8, 8)), np.zeros(2), np.zeros(2), ("a",), ("d",))
    with pytest.raises(ValueError, match="NaN"):
        DGData(np.full((2, 3, 8, 8), np.nan), np.zeros(2), np.zeros(2), ("a",), ("d",))
    with pytest.raises(ValueError, match="images is empty"):
        DGData(np.zeros((0, 3, 8, 8)), np.zeros(0), np.zeros(0), ("a",), ("d",))
    with pytest.raises(FileNotFoundError, match="model_path"):
        TextEncoder(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="model_path"):
        WidinModel.load(tmp_path / "none.pt")
    with pytest.raises(FileNotFoundError, match="root"):
        load_image_folder(tmp_path / "none")
    with pytest.raises(ValueError, match="template must contain"):
        text.word("no placeholder", torch.zeros(1, text.dim))
    with pytest.raises(ValueError, match="tokens must have shape"):
        text.word("an image of [V]", torch.zeros(1, 7))
    with pytest.raises(ValueError, match="feats contains NaN"):
        t_c = torch.zeros(10, text.dim)
        train_text_map(
            np.full((4, 3), np.nan, np.float32), np.zeros(4, np.int64), t_c, WordingConfig()
        )
    with pytest.raises(ValueError, match="pretrain must be"):
        run_digits_dg(text, WidinConfig(pretrain="imagenet"), data=small_dg)
    with pytest.raises(ValueError, match="images needs at least 2"):
        train_simclr(small_dg.images[:1])
