"""Unsupervised behaviour clusters on the tiny biography LM: token selection, projected
gradients, spherical k-means, purity against shuffled labels, circuits and the HTML report."""

from __future__ import annotations

import re
import sys

import numpy as np
import pytest
import torch

from methods.circuits.clusters import (
    BehaviourConfig,
    Behaviours,
    Cluster,
    Embedding,
    KMeans,
    PurityCheck,
    Site,
    cosine_stats,
    find_behaviours,
    gradient_parameters,
    purities,
    purity_vs_shuffled,
    repeats_trigram,
    select_tokens,
    spherical_kmeans,
    token_gradients,
    token_rows,
)
from methods.circuits.clusters_circuits import (
    ClusterCircuitConfig,
    cluster_circuits,
    split_contexts,
)
from methods.circuits.clusters_report import write_report

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tiny(module_home_dir):
    """The tiny biography LM, its resid_0 SAE and biography rows (trained once per module)."""
    from methods.circuits.biographies import biographies
    from methods.circuits.tiny import bios_tokenizer
    from tools.circuit_shift import shift_model
    from tools.registry import ToolContext

    torch.set_num_threads(1)
    m = shift_model("tiny", 1, ToolContext(artifact_dir=module_home_dir))
    tok = bios_tokenizer()
    texts = [b.text for p in (0, 1) for g in (0, 1) for b in biographies(60, p, g, 9)]
    rows = token_rows(texts, tok.encode, 40)
    return m.model, m.saes, tok, rows


def test_repeats_trigram_marks_a_trigram_seen_earlier_only():
    ids = [1, 2, 3, 4, 1, 2, 3, 2, 3]
    assert repeats_trigram(ids, 6)  # (1, 2, 3) ends at 2 as well
    assert not repeats_trigram(ids, 2) and not repeats_trigram(ids, 5)
    assert not repeats_trigram(ids, 8)  # (3, 2, 3) is new
    assert not repeats_trigram(ids, 1)


def test_selection_keeps_only_low_loss_tokens_without_repeated_trigrams(tiny):
    model, _, _, rows = tiny
    sites = select_tokens(model, rows, 60, max_loss=0.3, min_context=8, stride=2)
    assert len(sites) == 60
    for s in sites[:20]:
        ids = rows[s.row].tolist()
        assert s.context == ids[: s.pos] and s.target == ids[s.pos] and s.pos >= 8
        assert not repeats_trigram(ids, s.pos)
        logits = model(torch.tensor([s.context]))[0, -1]
        loss = torch.nn.functional.cross_entropy(logits[None], torch.tensor([s.target]))
        assert float(loss) == pytest.approx(s.loss, abs=1e-4) and s.loss < 0.3
    # Every eligible token would also include repeats and high-loss ones: they must be absent.
    every = select_tokens(model, rows[:10], 10_000, max_loss=0.3, min_context=8, stride=1)
    kept = {(s.row, s.pos) for s in every}
    logits = model(rows[:10, :-1])
    losses = torch.nn.functional.cross_entropy(
        logits.transpose(1, 2), rows[:10, 1:], reduction="none"
    )
    for r in range(10):
        ids = rows[r].tolist()
        for t in range(8, rows.shape[1]):
            wanted = float(losses[r, t - 1]) < 0.3 and not repeats_trigram(ids, t)
            assert ((r, t) in kept) == wanted


def test_gradients_are_projected_unit_vectors_that_do_not_depend_on_batching(tiny):
    model, _, _, rows = tiny
    sites = select_tokens(model, rows, 12, min_context=8, stride=3)
    params = gradient_parameters(model)
    assert params == ["layers.1.mlp.2.weight"]
    batched = token_gradients(model, sites, params, dims=64, seed=3, batch_size=5)
    single = token_gradients(model, sites, params, dims=64, seed=3, batch_size=1)
    assert batched.vectors.shape == (12, 64) and batched.n_weights == 32 * 128
    assert np.allclose(np.linalg.norm(batched.vectors, axis=1), 1, atol=1e-5)
    assert np.allclose(batched.vectors, single.vectors, atol=1e-4)
    # The raw gradient of one token, by autograd on the weight, projects to the same direction.
    from scipy import sparse
    from sklearn.random_projection import SparseRandomProjection

    w = model.layers[1].mlp[2].weight
    w.requires_grad_(True)
    s = sites[0]
    loss = torch.nn.functional.cross_entropy(
        model(torch.tensor([s.context]))[0, -1][None], torch.tensor([s.target])
    )
    (g,) = torch.autograd.grad(loss, [w])
    w.requires_grad_(False)
    proj = SparseRandomProjection(64, random_state=3, dense_output=True)
    z = proj.fit(sparse.csr_matrix((1, w.numel()), dtype=np.float32)).transform(
        g.reshape(1, -1).numpy()
    )[0]
    assert np.allclose(z / np.linalg.norm(z), batched.vectors[0], atol=1e-4)
    assert batched.parameters == params and batched.losses[0] == pytest.approx(s.loss, abs=1e-4)


def test_spherical_kmeans_separates_planted_clusters_and_is_deterministic():
    rng = np.random.default_rng(0)
    centres = np.eye(30)[:4]
    truth = np.repeat(np.arange(4), 25)
    x = centres[truth] + 0.15 * rng.standard_normal((100, 30))
    a = spherical_kmeans(x, 4, seed=1)
    b = spherical_kmeans(x, 4, seed=1)
    assert (a.labels == b.labels).all()
    # Each planted group maps to exactly one found cluster.
    pairs = {(int(t), int(f)) for t, f in zip(truth, a.labels, strict=True)}
    assert len(pairs) == 4 and len({f for _, f in pairs}) == 4
    assert np.allclose(np.linalg.norm(a.centroids, axis=1), 1)
    intra, inter = cosine_stats(x, a.labels)
    assert intra > 0.5 and abs(inter) < 0.1 and intra > 5 * abs(inter)


def test_purity_and_the_shuffled_baseline_on_a_hand_example():
    labels = np.array([0, 0, 0, 1, 1, 2])
    targets = np.array([5, 5, 7, 8, 9, 3])
    assert purities(labels, targets) == {0: pytest.approx(2 / 3), 1: 0.5, 2: 1.0}
    check = purity_vs_shuffled(labels, targets, top=2, bar=0.6, n_shuffles=50)
    assert check.n_pure == 1 and check.mean_purity == pytest.approx((2 / 3 + 0.5) / 2)
    # With one target everywhere every assignment is pure: the baseline equals the real value.
    same = purity_vs_shuffled(labels, np.zeros(6, int), top=3, bar=0.9, n_shuffles=10)
    assert same.n_pure == 3 and same.shuffled_n_pure == 3
    # Clusters that are exactly the targets beat shuffled assignments.
    planted = purity_vs_shuffled(np.repeat(np.arange(5), 8), np.repeat(np.arange(5), 8), 5)
    assert planted.n_pure == 5 and planted.shuffled_n_pure < 1
    intra, inter = cosine_stats(np.array([[1.0, 0], [2, 0], [0, 1]]), np.array([0, 0, 1]))
    assert intra == pytest.approx(1) and inter == pytest.approx(0)


def _fake_behaviours(n_clusters: int = 3) -> Behaviours:
    sites = [Site(i, 3, 1 + i % 2, 0.1, [0, 1, 2]) for i in range(3 * n_clusters)]
    labels = np.repeat(np.arange(n_clusters), 3)
    clusters = [
        Cluster(j, [3 * j, 3 * j + 1, 3 * j + 2], 2 / 3, [(1, 2), (2, 1)])
        for j in range(n_clusters)
    ]
    return Behaviours(
        sites,
        Embedding(np.eye(len(sites)), np.zeros(len(sites)), ["w"], 10, 0.0),
        KMeans(labels, np.eye(n_clusters), 1.0, 1),
        clusters,
        0.5,
        0.1,
        PurityCheck(20, 0.5, 3, 0.67, 0.4, 0.4),
        BehaviourConfig(n_tokens=9, k=n_clusters, min_context=3),
    )


def test_report_links_every_cluster_page_and_escapes_text(tmp_path):
    found = _fake_behaviours()
    decode = lambda ids: " ".join("<b>&" if i == 1 else f"t{i}" for i in ids)  # noqa: E731
    paths = write_report(found, {}, decode, tmp_path, title="<script>x</script>", window=3)
    index = (tmp_path / "index.html").read_text()
    links = re.findall(r'href="(cluster_\d+\.html)"', index)
    assert sorted(links) == [f"cluster_{j}.html" for j in range(3)]
    assert all((tmp_path / link).is_file() for link in links)
    assert {p.name for p in paths} >= {"index.html", "clusters.json", *links}
    for page in [index, *[(tmp_path / link).read_text() for link in links]]:
        assert "<b>&" not in page and "<script>" not in page
    page = (tmp_path / "cluster_0.html").read_text()
    assert "<mark>&lt;b&gt;&amp;</mark>" in page and 'href="index.html"' in page


def test_find_behaviours_and_circuits_on_the_tiny_model(tiny, tmp_path):
    model, saes, tok, rows = tiny
    config = BehaviourConfig(n_tokens=120, k=4, dims=256, min_context=8, stride=2)
    found = find_behaviours(model, rows, config)
    assert sum(c.size for c in found.clusters) == 120 and len(found.clusters) == 4
    assert [c.size for c in found.clusters] == sorted(
        (c.size for c in found.clusters), reverse=True
    )
    assert found.intra_cosine > 2 * found.inter_cosine
    circuits = cluster_circuits(
        model,
        saes,
        found,
        found.clusters[:2],
        ClusterCircuitConfig(window=8, n_nodes=40, sizes=(10,)),
    )
    assert list(circuits) == [c.index for c in found.clusters[:2]]
    for c in circuits.values():
        assert c.n_nodes == 40 and not c.in_sample and c.m_empty > c.m_full
        assert np.isfinite(c.faithfulness) and set(c.curve) == {10, 40}
    paths = write_report(found, circuits, tok.decode, tmp_path, window=8)
    assert "faithfulness" in paths[0].read_text()
    per_position = cluster_circuits(
        model,
        saes,
        found,
        found.clusters[:1],
        ClusterCircuitConfig(window=8, n_nodes=40, sizes=(), aggregation="none", ablation="mean"),
    )
    (c,) = per_position.values()
    assert c.n_nodes == 40 and "@" in c.top_nodes[0][0] and c.ablation == "mean"
    assert all("@" not in node for node, _ in circuits[found.clusters[0].index].top_nodes)


def test_mean_baseline_patches_to_the_batch_mean_and_zero_ablation_is_an_option(tiny):
    from methods.circuits import Evaluator, Task, next_token_loss, node_effects

    model, saes, _, rows = tiny
    same = rows[:1, :8].repeat(4, 1)  # identical contexts: the mean is the clean run
    task = Task(same, next_token_loss(rows[:1, 8].repeat(4)), baseline="mean")
    effects = node_effects(model, saes, task, "attrib")
    assert all(v.abs().max() < 1e-6 for v in effects.features.values())
    zero = node_effects(model, saes, Task(same, task.metric), "attrib")
    assert any(v.abs().max() > 1e-4 for v in zero.features.values())
    ev = Evaluator(model, saes, Task(same, task.metric), ablation="zero")
    assert all(float(a.f.abs().max()) == 0 for a in ev.means.values())
    with pytest.raises(ValueError, match="baseline must be 'zero' or 'mean'"):
        Task(same, task.metric, baseline="median")
    with pytest.raises(ValueError, match="ablation must be 'mean' or 'zero'"):
        Evaluator(model, saes, Task(same, task.metric), ablation="resample")


@pytest.fixture(scope="module")
def sharding(tiny):
    """Three clusters of the tiny LM, a small circuit config, and two clusters' serial circuits."""
    model, saes, _, rows = tiny
    found = find_behaviours(
        model, rows, BehaviourConfig(n_tokens=60, k=3, dims=64, min_context=8, stride=2)
    )
    config = ClusterCircuitConfig(window=8, n_nodes=20, sizes=(), method="attrib")
    serial = cluster_circuits(model, saes, found, found.clusters[:2], config)
    return found, config, serial


def test_sharded_circuits_match_the_serial_ones(tiny, sharding):
    model, saes, _, _ = tiny
    found, config, serial = sharding
    sharded = cluster_circuits(model, saes, found, found.clusters[:2], config, workers=2)
    assert list(sharded) == list(serial)
    for i in serial:
        assert sharded[i].faithfulness == pytest.approx(serial[i].faithfulness, abs=1e-5)


def test_ray_tasks_give_the_serial_circuits(tiny, sharding):
    pytest.importorskip("ray")
    model, saes, _, _ = tiny
    found, config, serial = sharding
    seen: list[str] = []
    on_ray = cluster_circuits(
        model,
        saes,
        found,
        found.clusters[:2],
        config,
        workers=2,
        progress=lambda f, m: seen.append(m),
        backend="ray",
    )
    assert list(on_ray) == list(serial)
    for i in serial:
        assert on_ray[i].faithfulness == pytest.approx(serial[i].faithfulness, abs=1e-5)
        assert on_ray[i].top_nodes == serial[i].top_nodes
    assert sum("(Ray)" in m for m in seen) == 2
    import ray

    assert not ray.is_initialized()  # the local instance this call started is shut down


def test_bad_backend_arguments_are_refused(tiny, sharding, monkeypatch):
    model, saes, _, _ = tiny
    found, config, _ = sharding
    clusters = found.clusters[:1]
    with pytest.raises(ValueError, match="backend must be one of"):
        cluster_circuits(model, saes, found, clusters, config, backend="dask")
    with pytest.raises(ValueError, match="ray_address needs backend='ray'"):
        cluster_circuits(model, saes, found, clusters, config, ray_address="auto")
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ImportError, match="ponder\\[ray\\]"):
        cluster_circuits(model, saes, found, clusters, config, backend="ray")


def test_split_contexts_holds_out_a_share_and_keeps_tiny_clusters_in_sample():
    disc, ev, in_sample = split_contexts(10, 0.5, 100, seed=0)
    assert len(disc) == len(ev) == 5 and not set(disc) & set(ev) and not in_sample
    disc, ev, in_sample = split_contexts(3, 0.5, 100, seed=0)
    assert disc == ev and in_sample
    disc, ev, _ = split_contexts(300, 0.5, 100, seed=0)
    assert len(disc) == len(ev) == 100


def test_bad_inputs_name_the_argument(tiny):
    model, _, _, rows = tiny
    with pytest.raises(ValueError, match=r"k \(9\) must not exceed n_tokens \(5\)"):
        find_behaviours(model, rows, BehaviourConfig(n_tokens=5, k=9))
    with pytest.raises(ValueError, match="max_loss"):
        find_behaviours(
            model, rows[:3], BehaviourConfig(n_tokens=5, k=2, max_loss=1e-9, min_context=8)
        )
    with pytest.raises(ValueError, match=r"k \(5\) exceeds the \d+ tokens selected"):
        find_behaviours(model, rows[:1], BehaviourConfig(n_tokens=50, k=5, min_context=30))
    with pytest.raises(ValueError, match="parameters 'no_such_layer' matches no nn.Linear"):
        gradient_parameters(model, "no_such_layer")
    with pytest.raises(ValueError, match="parameters"):
        gradient_parameters(model, "([")
    with pytest.raises(ValueError, match="dims must be a positive integer"):
        find_behaviours(model, rows, BehaviourConfig(n_tokens=10, k=2, dims=0))
    with pytest.raises(ValueError, match="dims must be a positive integer"):
        token_gradients(model, [Site(0, 8, 1, 0.1, [1] * 8)], ["layers.1.mlp.2.weight"], dims=-4)
    with pytest.raises(ValueError, match="sites is empty"):
        token_gradients(model, [], ["layers.1.mlp.2.weight"])
    with pytest.raises(ValueError, match="not the weight of an nn.Linear"):
        token_gradients(model, [Site(0, 8, 1, 0.1, [1] * 8)], ["layers.1.ln1.weight"])
    with pytest.raises(ValueError, match="k must be in"):
        spherical_kmeans(np.eye(3), 4)
    with pytest.raises(ValueError, match="NaN"):
        spherical_kmeans(np.array([[np.nan, 1.0], [1, 0]]), 1)
    with pytest.raises(ValueError, match="rows must be non-empty"):
        select_tokens(model, torch.zeros(0, 40, dtype=torch.long), 5)
    with pytest.raises(ValueError, match="fewer than one row"):
        token_rows(["a b"], lambda t: [1, 2], 40)
    with pytest.raises(ValueError, match="window"):
        found = _fake_behaviours()
        cluster_circuits(
            model, {"resid_0": None}, found, found.clusters, ClusterCircuitConfig(window=8)
        )
