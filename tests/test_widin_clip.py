"""The WIDIn CLIP-like path: captions, the tower trained against frozen MiniLM, the whole run."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from methods.widin import (
    CLIP_METHODS,
    ClipConfig,
    DGData,
    Stage2Config,
    TextEncoder,
    WidinConfig,
    WidinModel,
    WordingConfig,
    caption_bank,
    class_embeddings,
    digits_dg,
    embed_images,
    run_digits_dg,
    train_clip_tower,
    zero_shot,
)

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = WidinConfig(
    encoder="clip",
    clip=ClipConfig(epochs=3, batch_size=128),
    wording=WordingConfig(steps=4, batch_size=32),
    stage2=Stage2Config(epochs=15),
    mechanism_per_domain=30,
)


@pytest.fixture(scope="module")
def text(embedder) -> TextEncoder:
    return TextEncoder(embedder.model_dir)


@pytest.fixture(scope="module")
def small_dg() -> DGData:
    data = digits_dg(("clean", "inverted", "noisy"), size=16, seed=0)
    return data.subset(np.flatnonzero(data.index < 500))


def test_caption_bank_embeds_every_class_style_pair_with_its_variants(text):
    bank = caption_bank(text, ("zero", "one"), ("clean", "sketch"))
    assert bank.styles == ("clean", "sketch") and bank.n_classes == 2
    counts = np.bincount(bank.pair.numpy())
    assert len(counts) == 4 and (counts == counts[0]).all() and counts[0] > 1
    norms = bank.embeddings.norm(dim=1)
    torch.testing.assert_close(norms, torch.ones_like(norms))
    # the caption of a (class, style) pair is nearer its own group than the other style's
    sim = bank.embeddings @ bank.embeddings.T
    same = bank.pair[:, None] == bank.pair[None, :]
    assert sim[same].mean() > sim[~same].mean()


def test_tower_learns_to_name_the_style_and_the_digit_of_its_pool(text, small_dg):
    bank = caption_bank(text, small_dg.class_names, ("clean", "inverted"))
    pool = small_dg.subset(np.flatnonzero((small_dg.domains < 2) & (small_dg.index < 400)))
    test = small_dg.subset(np.flatnonzero((small_dg.domains < 2) & (small_dg.index >= 400)))
    config = ClipConfig(epochs=6, batch_size=64)
    tower = train_clip_tower(pool.images, pool.labels, pool.domains, bank, config, seed=0)
    joint = embed_images(tower, test.images)
    assert joint.shape == (len(test), text.dim)
    nearest = bank.pair.numpy()[(joint @ bank.embeddings.numpy().T).argmax(1)]
    style_acc = float((nearest % 2 == test.domains).mean())
    t_c = class_embeddings(text, test.class_names, TINY.wording.class_template).numpy()
    class_acc = float((zero_shot(joint, t_c) == test.labels).mean())
    assert style_acc > 0.9  # clean vs inverted is plain to see once aligned with the captions
    assert class_acc > 0.3  # chance is 0.1


def test_clip_run_adds_zero_shot_and_saves_a_loadable_model(text, small_dg, tmp_path):
    report = run_digits_dg(text, TINY, seed=0, data=small_dg)
    assert tuple(report.accuracy) == CLIP_METHODS
    for acc in report.accuracy.values():
        assert set(acc) == {"clean", "inverted", "noisy"} and all(0 <= a <= 1 for a in acc.values())
    assert report.mechanism["domain_on_delta"] > 1 / 3
    model = report.model
    assert model.kind == "clip" and model.k in TINY.stage2.k_grid
    images = small_dg.images[:5]
    loaded = WidinModel.load(model.save(tmp_path / "clip.pt"))
    assert loaded.kind == "clip"
    np.testing.assert_allclose(loaded.embed(images), model.embed(images), atol=1e-5)
    np.testing.assert_array_equal(loaded.predict(images), model.predict(images))
    # the joint space survives the round trip: G is the identity on the tower's embedding
    raw = embed_images(loaded.encoder, images)
    with torch.no_grad():
        back = loaded.text_map(torch.from_numpy(loaded.features(images))).numpy()
    np.testing.assert_allclose(back, raw, atol=1e-5)


def test_clip_pool_digits_are_never_trained_on_or_tested(small_dg):
    from methods.widin.experiment import split_indices

    labels = small_dg.domain("clean").labels
    pool, train, val, held = split_indices(labels, TINY, seed=0)
    parts = [set(pool), set(train), set(val), set(held)]
    assert sum(len(p) for p in parts) == len(labels)
    assert all(not (a & b) for i, a in enumerate(parts) for b in parts[i + 1 :])
    assert abs(len(pool) / len(labels) - TINY.pool_fraction) < 0.01
    unimodal = split_indices(labels, replace(TINY, encoder="unimodal"), seed=0)
    assert len(unimodal[0]) == 0


def test_clip_bad_inputs_name_the_argument(text, small_dg):
    with pytest.raises(ValueError, match="encoder must be one of"):
        run_digits_dg(text, replace(TINY, encoder="openclip"), data=small_dg)
    with pytest.raises(ValueError, match="pool_domains must be domains of the data"):
        run_digits_dg(text, replace(TINY, pool_domains=("sketch",)), data=small_dg)
    with pytest.raises(ValueError, match="pool_fraction must lie in"):
        run_digits_dg(text, replace(TINY, pool_fraction=1.0), data=small_dg)
    with pytest.raises(ValueError, match="styles must be drawn from"):
        caption_bank(text, ("zero",), ("watercolour",))
    with pytest.raises(ValueError, match="styles is empty"):
        caption_bank(text, ("zero",), ())
    bank = caption_bank(text, ("zero", "one"), ("clean",))
    images = small_dg.images[:4]
    with pytest.raises(ValueError, match="must match images"):
        train_clip_tower(images, np.zeros(3, np.int64), np.zeros(4, np.int64), bank)
    with pytest.raises(ValueError, match="labels must lie in"):
        train_clip_tower(images, np.full(4, 5), np.zeros(4, np.int64), bank)
    with pytest.raises(ValueError, match="styles must index"):
        train_clip_tower(images, np.zeros(4, np.int64), np.ones(4, np.int64), bank)
    with pytest.raises(ValueError, match=r"must be \(N, d\) and \(C, d\)"):
        zero_shot(np.zeros((3, 4)), np.zeros((2, 5)))
