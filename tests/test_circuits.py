"""Sparse feature circuits: hooks, SAEs, attribution against exact patching, faithfulness, and a
circuit found end to end in a tiny transformer trained here on synthetic agreement."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from methods.circuits import (
    FAMILIES,
    IdentityDictionary,
    SparseAutoencoder,
    Task,
    TrainConfig,
    edit_outputs,
    exact_effects,
    hook_points,
    logit_diff,
    logits_of,
    node_effects,
    random_circuit,
    top_circuit,
    top_nodes,
    train_sae,
)
from methods.circuits.circuit import Evaluator, empty_like, full_like, mean_acts, run_ablated

pytestmark = pytest.mark.usefixtures("one_thread")


class _LinearBlock(nn.Module):
    def __init__(self, d: int) -> None:
        super().__init__()
        self.attn, self.mlp = nn.Linear(d, d), nn.Linear(d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(x)
        return x + self.mlp(x)


class LinearToy(nn.Module):
    """Logits linear in every hooked activation (the 'tiny' layout: embed, layers.attn/mlp)."""

    def __init__(self, vocab: int = 11, d: int = 6, n_layers: int = 2) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, d)
        self.layers = nn.ModuleList(_LinearBlock(d) for _ in range(n_layers))
        self.unembed = nn.Linear(d, vocab)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.embed(ids)
        for layer in self.layers:
            x = layer(x)
        return self.unembed(x)


def perfect_dictionary(d: int) -> SparseAutoencoder:
    """A ReLU dictionary with directions ±e_i: f = (relu(x), relu(-x)) reconstructs x exactly."""
    sae = SparseAutoencoder(d, 2 * d, "relu")
    eye = torch.eye(d)
    with torch.no_grad():
        sae.W_enc.copy_(torch.cat([eye, -eye], 1))
        sae.W_dec.copy_(torch.cat([eye, -eye], 0))
        sae.b_enc.zero_()
        sae.b_dec.zero_()
    return sae.requires_grad_(False)


def random_dictionary(d: int, n: int, seed: int) -> SparseAutoencoder:
    torch.manual_seed(seed)
    sae = SparseAutoencoder(d, n, "relu")
    with torch.no_grad():
        sae.b_enc.fill_(0.1)
    return sae.requires_grad_(False)


def _pair_task(vocab: int = 11, batch: int = 5, length: int = 4, seed: int = 0) -> Task:
    g = torch.Generator().manual_seed(seed)
    clean = torch.randint(0, vocab, (batch, length), generator=g)
    patch = torch.randint(0, vocab, (batch, length), generator=g)
    return Task(clean, logit_diff(torch.full((batch,), 1), torch.full((batch,), 2)), patch=patch)


def test_hook_points_leave_outputs_unchanged_on_a_llama_layout():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=50,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=32,
    )
    model = LlamaForCausalLM(cfg).eval()
    ids = torch.randint(0, 50, (2, 6))
    before = logits_of(model, ids)
    points = hook_points(model)
    assert list(points)[:4] == ["embed", "attn_0", "mlp_0", "resid_0"] and len(points) == 7
    with edit_outputs(model, {n: (lambda x: x.clone()) for n in points}):
        during = logits_of(model, ids)
    assert torch.equal(before, during)
    with edit_outputs(model, {"resid_1": torch.zeros_like}):
        assert not torch.allclose(logits_of(model, ids), before)
    assert torch.equal(logits_of(model, ids), before)  # the hooks were removed


def test_hook_points_find_gpt_neox_and_gemma2_layouts():
    from transformers import Gemma2Config, Gemma2ForCausalLM, GPTNeoXConfig, GPTNeoXForCausalLM

    neox = GPTNeoXForCausalLM(
        GPTNeoXConfig(
            vocab_size=40,
            hidden_size=16,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=32,
        )
    )
    gemma = Gemma2ForCausalLM(
        Gemma2Config(
            vocab_size=40,
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            num_key_value_heads=1,
            head_dim=8,
        )
    )
    for model in (neox.eval(), gemma.eval()):
        ids = torch.randint(0, 40, (1, 5))
        before = logits_of(model, ids)
        points = hook_points(model)
        assert {"embed", "attn_1", "mlp_1", "resid_1"} <= set(points)
        with edit_outputs(model, {n: (lambda x: x + 0) for n in points}):
            assert torch.allclose(logits_of(model, ids), before)
    assert type(hook_points(gemma)["mlp_0"]).__name__.endswith("RMSNorm")


def test_unknown_hook_point_and_unknown_layout_are_named():
    with pytest.raises(KeyError, match="resid_9"), edit_outputs(LinearToy(), {"resid_9": abs}):
        pass
    with pytest.raises(ValueError, match="no known layout"):
        hook_points(nn.Linear(2, 2))


def test_perfect_dictionary_splice_reproduces_activations_and_logits():
    torch.manual_seed(0)
    model = LinearToy()
    sae = perfect_dictionary(6)
    x = torch.randn(3, 4, 6)
    assert torch.allclose(sae.decode(sae.encode(x)), x, atol=1e-6)
    task = _pair_task()
    dicts = {"resid_0": sae, "attn_1": sae}
    means = mean_acts(model, dicts, task.patch)
    full = full_like(node_effects(model, dicts, task, "attrib"))
    assert torch.allclose(
        run_ablated(model, dicts, task.clean, full, means), logits_of(model, task.clean), atol=1e-5
    )


def test_attribution_patching_equals_exact_patching_on_a_linear_model():
    torch.manual_seed(0)
    model = LinearToy()
    dicts = {
        "attn_0": random_dictionary(6, 10, 1),
        "resid_0": random_dictionary(6, 10, 2),
        "resid_1": IdentityDictionary(6),
    }
    task = _pair_task()
    effects = node_effects(model, dicts, task, "attrib")
    nodes = top_nodes(effects, 25)
    exact, _ = exact_effects(model, dicts, task, nodes)
    approx = torch.tensor(
        [
            float(effects.features[n][p, f]) if f is not None else float(effects.errors[n][p])
            for n, p, f in nodes
        ]
    )
    # ReLU features are linear in x only while their sign holds: patching one feature alone keeps
    # every other feature fixed, so on this model the first-order estimate is exact.
    assert torch.allclose(approx, exact, atol=1e-4, rtol=1e-4)
    assert exact.abs().max() > 1e-2


def test_integrated_gradients_converge_to_the_exact_effect_as_steps_grow():
    from methods.circuits.tiny import TinyConfig, TinyTransformer

    torch.manual_seed(0)
    model = TinyTransformer(11, TinyConfig(d=8, n_layers=2, n_heads=2)).eval().requires_grad_(False)
    dicts = {"resid_0": IdentityDictionary(8)}
    task = _pair_task()
    # Patching the whole submodule: the exact effect IG's effects must add up to (completeness).
    patched = dict.fromkeys(range(8))
    from methods.circuits.hooks import record

    patch_act = record(model, ["resid_0"], task.patch)["resid_0"]
    base = task.metric(logits_of(model, task.clean)).mean()
    with edit_outputs(model, {"resid_0": lambda x: patch_act}):
        whole = float(task.metric(logits_of(model, task.clean)).mean() - base)
    errors = []
    for steps in (1, 4, 64):
        eff = node_effects(model, dicts, task, "ig", steps=steps)
        errors.append(abs(float(eff.features["resid_0"].sum()) - whole))
    assert patched and abs(whole) > 0.05
    assert errors[2] < errors[0] and errors[2] < 0.05 * abs(whole) + 1e-3


def test_faithfulness_is_one_for_the_full_model_and_zero_for_the_empty_circuit():
    torch.manual_seed(0)
    from methods.circuits.tiny import TinyConfig, TinyTransformer

    model = TinyTransformer(11, TinyConfig(d=8)).eval().requires_grad_(False)
    dicts = {"resid_0": random_dictionary(8, 16, 3), "resid_1": random_dictionary(8, 16, 4)}
    task = _pair_task(batch=8)
    ev = Evaluator(model, dicts, task)
    effects = node_effects(model, dicts, task, "attrib")
    assert ev.faithfulness(full_like(effects)).faithfulness == pytest.approx(1.0, abs=1e-4)
    assert ev.faithfulness(empty_like(effects)).faithfulness == pytest.approx(0.0, abs=1e-6)
    assert ev.completeness(full_like(effects)).faithfulness == pytest.approx(0.0, abs=1e-6)


def test_bad_inputs_name_the_argument():
    with pytest.raises(ValueError, match="patch must have"):
        Task(
            torch.zeros(2, 3, dtype=torch.long),
            lambda x: x,
            patch=torch.zeros(2, 4, dtype=torch.long),
        )
    with pytest.raises(ValueError, match="clean must be"):
        Task(torch.zeros(0, 3, dtype=torch.long), lambda x: x)
    with pytest.raises(ValueError, match="dictionaries is empty"):
        node_effects(LinearToy(), {}, _pair_task())
    with pytest.raises(ValueError, match="method must be"):
        node_effects(LinearToy(), {"resid_0": IdentityDictionary(6)}, _pair_task(), "exact")
    with pytest.raises(ValueError, match="k must be"):
        SparseAutoencoder(4, 8, "topk", k=9)
    with pytest.raises(ValueError, match="NaN"):
        train_sae(SparseAutoencoder(4, 8, k=2), [torch.full((8, 4), float("nan"))])
    with pytest.raises(ValueError, match=r"\(batch, d=4\)"):
        train_sae(SparseAutoencoder(4, 8, k=2), [torch.zeros(8, 5)])
    with pytest.raises(ValueError, match="family must be"):
        from methods.circuits import make_pairs

        make_pairs("passive", ["a", "b"], 3)


def test_topk_training_explains_most_variance_of_sparse_data(tmp_path):
    from methods.circuits import load_dictionary, quality, save_dictionary

    torch.manual_seed(0)
    atoms = torch.randn(32, 16)
    codes = torch.rand(4096, 32) * (torch.rand(4096, 32) < 0.1)
    data = codes @ atoms + 3.0
    batches = (data[torch.randint(0, 4096, (256,))] for _ in range(600))
    sae = SparseAutoencoder(16, 64, "topk", k=4)
    train_sae(sae, batches, TrainConfig(steps=600, batch_size=256, warmup_steps=50, lr=3e-3))
    q = quality(sae, data)
    assert q.fraction_variance_explained > 0.8 and q.l0 <= 4
    loaded = load_dictionary(save_dictionary(sae, tmp_path / "resid_0", half=False))
    assert torch.allclose(loaded.encode(data[:10]), sae.encode(data[:10]), atol=1e-5)
    with pytest.raises(FileNotFoundError, match="ae.pt"):
        load_dictionary(tmp_path / "missing")


def test_saelens_folder_loads(tmp_path):
    import json

    from safetensors.torch import save_file

    from methods.circuits import load_dictionary

    w = {
        "W_enc": torch.randn(6, 12),
        "b_enc": torch.randn(12),
        "W_dec": torch.randn(12, 6),
        "b_dec": torch.randn(6),
        "threshold": torch.rand(12),
    }
    save_file(w, str(tmp_path / "sae_weights.safetensors"))
    (tmp_path / "cfg.json").write_text(
        json.dumps({"architecture": "jumprelu", "d_in": 6, "d_sae": 12})
    )
    sae = load_dictionary(tmp_path)
    x = torch.randn(3, 6)
    pre = (x - w["b_dec"]) @ w["W_enc"] + w["b_enc"]
    assert torch.allclose(sae.encode(x), pre * (pre > w["threshold"]), atol=1e-5)


@pytest.fixture(scope="module")
def tiny_agreement():
    from methods.circuits import NOUNS, split_nouns
    from methods.circuits.tiny import TinyConfig, train_tiny_agreement

    torch.set_num_threads(1)
    train_nouns, test_nouns = split_nouns(NOUNS[:12], test_fraction=0.34)
    model, tok = train_tiny_agreement(NOUNS[:12], TinyConfig(d=32, n_layers=2), steps=300)
    return model, tok, train_nouns, test_nouns


def test_a_tiny_transformer_trained_on_agreement_gives_a_faithful_sparse_circuit(tiny_agreement):
    from methods.circuits import keep_correct, make_pairs, tokenize_pairs
    from methods.circuits.hooks import record

    model, tok, train_nouns, test_nouns = tiny_agreement
    names = ["resid_0", "resid_1"]
    acts = record(
        model,
        names,
        torch.tensor([tok.encode(p.clean) for p in make_pairs("nounpp", train_nouns, 512, seed=3)]),
    )
    saes = {}
    for n in names:
        sae = SparseAutoencoder(32, 128, "topk", k=8)
        flat = acts[n].reshape(-1, 32)
        train_sae(
            sae,
            (flat[torch.randint(0, len(flat), (256,))] for _ in range(400)),
            TrainConfig(steps=400, batch_size=256, warmup_steps=40, lr=3e-3),
        )
        saes[n] = sae.requires_grad_(False)
    disc = keep_correct(
        model, tokenize_pairs(make_pairs("nounpp", train_nouns, 40, seed=1), tok.encode)
    )
    test = keep_correct(
        model, tokenize_pairs(make_pairs("nounpp", test_nouns, 40, seed=2), tok.encode)
    )
    assert len(disc) > 30 and len(test) > 30
    effects = node_effects(model, saes, disc.discovery_task(), "ig", steps=10)
    ev = Evaluator(model, saes, test.eval_task())
    small = ev.faithfulness(top_circuit(effects, 40))
    rand = ev.faithfulness(random_circuit(effects, 40, seed=0))
    assert small.faithfulness > 0.6, small
    assert rand.faithfulness < small.faithfulness - 0.3
    assert ev.completeness(top_circuit(effects, 40)).faithfulness < 0.5
    assert FAMILIES[1] == "nounpp"


def test_edges_into_the_next_submodule_add_up_to_the_upstream_node_effect():
    from methods.circuits import edge_effects
    from methods.circuits.circuit import full_like

    torch.manual_seed(0)
    model = LinearToy(n_layers=2)
    dicts = {"resid_0": IdentityDictionary(6), "resid_1": IdentityDictionary(6)}
    task = _pair_task(length=3)
    effects = node_effects(model, dicts, task, "attrib")
    nodes = full_like(effects).nodes()
    edges = edge_effects(model, dicts, task, effects, nodes)
    # Every path from resid_0 to the logits runs through resid_1, so on a linear model a node's
    # edges into resid_1 sum to its own effect.
    for node in [n for n in nodes if n[0] == "resid_0" and n[2] is not None]:
        total = sum(e.effect for e in edges if e.upstream == node)
        assert total == pytest.approx(
            float(effects.features["resid_0"][node[1], node[2]]), abs=1e-4
        )
    assert all(e.downstream[0] == "resid_1" for e in edges)


def test_circuit_renders_to_json_svg_and_png(tmp_path):
    from methods.circuits import graph, write
    from methods.circuits.attribution import Edge

    model = LinearToy()
    dicts = {"resid_0": IdentityDictionary(6), "resid_1": IdentityDictionary(6)}
    effects = node_effects(model, dicts, _pair_task(), "attrib")
    nodes = top_nodes(effects, 6)
    g = graph(effects, nodes, [Edge(nodes[0], nodes[1], 0.5)], {"resid_0/1@0": "a label"})
    paths = write(g, tmp_path)
    assert [p.suffix for p in paths] == [".json", ".svg", ".png"]
    assert paths[1].read_text().startswith("<svg") and "resid_1" in paths[1].read_text()
    assert len(__import__("json").loads(paths[0].read_text())["nodes"]) == 6


def test_buffer_streams_batches_per_hook_point_without_the_sink_position():
    from methods.circuits import ActivationBuffer
    from methods.circuits.tiny import TinyConfig, TinyTransformer

    model = TinyTransformer(11, TinyConfig(d=8)).eval()
    texts = [" ".join(str(i % 11) for i in range(j, j + 9)) for j in range(40)]
    buf = ActivationBuffer(
        model,
        lambda t: [int(w) for w in t.split()],
        texts,
        ["resid_0", "resid_1"],
        context=6,
        capacity=64,
        batch_size=16,
    )
    batches = list(buf)
    assert batches and all(b["resid_0"].shape == (16, 8) for b in batches)
    assert buf.exhausted and buf.tokens_read == (40 * 9 // 6) * 5  # 5 of each 6 positions
    with pytest.raises(ValueError, match="names is empty"):
        ActivationBuffer(model, str.split, texts, [])


def test_corpus_mixes_docstrings_with_task_text():
    from methods.circuits import corpus

    texts = corpus(20_000, ["The author is here"], task_fraction=0.2, seed=0)
    assert sum(map(len, texts)) >= 20_000
    assert any("The author is here" in t for t in texts)
    assert any("return" in t.lower() for t in texts)  # docstrings of the standard library
    with pytest.raises(ValueError, match="n_chars"):
        corpus(0)
    with pytest.raises(ValueError, match="task_text is empty"):
        corpus(100, [])


def test_no_pair_loss_metric_and_position_summed_circuits():
    from methods.circuits import effect_of, next_token_loss, sum_over_positions

    torch.manual_seed(0)
    model = LinearToy()
    dicts = {"resid_0": IdentityDictionary(6), "resid_1": IdentityDictionary(6)}
    clean = torch.randint(0, 11, (6, 4))
    task = Task(clean, next_token_loss(torch.randint(0, 11, (6,))))  # no patch: zero ablation
    effects = node_effects(model, dicts, task, "attrib")
    node = top_nodes(effects, 1)[0]
    exact, _ = exact_effects(model, dicts, task, [node])
    # The loss is not linear in the activations, so AtP only agrees in sign and rough size here.
    assert float(exact[0]) * effect_of(effects, node) > 0
    summed = sum_over_positions(effects)
    assert summed.features["resid_0"].shape == (1, 6) and summed.n_nodes() == 14
    ev = Evaluator(model, dicts, _pair_task(batch=6))
    assert ev.faithfulness(full_like(summed)).faithfulness == pytest.approx(1.0, abs=1e-4)
    assert ev.faithfulness(top_circuit(summed, 4)).n_nodes == 4
