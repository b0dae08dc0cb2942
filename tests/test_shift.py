"""SHIFT: the biography generator, the pooled probe, IG attribution of its logit to SAE features
(exact where the probe is linear in them), ablation, the judges, and a tiny run end to end."""

from __future__ import annotations

import json

import pytest
import torch

from methods.circuits import SparseAutoencoder, TrainConfig, train_sae
from methods.circuits.biographies import (
    DOMAIN_WORDS,
    FEMALE_NAMES,
    MALE_NAMES,
    bias_splits,
    biographies,
    biography,
)
from methods.circuits.hooks import record
from methods.circuits.judge import (
    FeatureEvidence,
    LabelFileJudge,
    LexiconJudge,
    LLMJudge,
    with_overrides,
)
from methods.circuits.shift import (
    ProbeLogit,
    ablation_edits,
    accuracy,
    encode_bios,
    feature_effects,
    pooled,
    top_features,
    train_probe,
)
from methods.circuits.shift_run import ShiftConfig, encode_splits, evaluate, propose
from methods.circuits.tiny import PAD, TinyConfig, bios_tokenizer, train_tiny_lm

pytestmark = pytest.mark.usefixtures("one_thread")
LEN = 40


@pytest.fixture(scope="module")
def tiny():
    """A tiny LM trained on biographies, with a TopK SAE at resid_0 and one at resid_1."""
    torch.set_num_threads(1)
    tok = bios_tokenizer()
    texts = [b.text for p in (0, 1) for g in (0, 1) for b in biographies(100, p, g, seed=5)]
    model = train_tiny_lm(texts, tok, TinyConfig(d=32, n_layers=2, max_len=LEN), steps=150)
    ids = torch.tensor([r[:LEN] for r in map(tok.encode, texts) if len(r) >= LEN])
    saes = {}
    for name in ("resid_0", "resid_1"):
        acts = record(model, [name], ids)[name][:, 1:].reshape(-1, 32)
        sae = SparseAutoencoder(32, 96, "topk", k=8)
        batches = (acts[torch.randint(0, len(acts), (256,))] for _ in range(150))
        train_sae(sae, batches, TrainConfig(steps=150, batch_size=256, warmup_steps=15, lr=3e-3))
        saes[name] = sae.requires_grad_(False)

    def encode(text: str) -> list[int]:
        return tok.encode(text)[:LEN]

    return model, tok, encode, tok.ids[PAD], saes, ids


def test_ambiguous_split_pairs_male_with_professor_and_test_is_balanced():
    splits = bias_splits(20, 10, 12, seed=0)
    assert {(b.profession, b.gender) for b in splits.ambiguous} == {(1, 1), (0, 0)}
    groups = [(b.profession, b.gender) for b in splits.test]
    assert {g: groups.count(g) for g in set(groups)} == {g: 12 for g in groups}
    assert len(splits.balanced) == 40


def test_biography_has_a_name_three_pronouns_and_one_or_two_profession_words():
    import random

    rng = random.Random(0)
    for _ in range(50):
        bio = biography(0, 0, rng)
        words = bio.text.lower().replace(".", " ").split()
        assert bio.text.split()[0] in FEMALE_NAMES
        assert sum(w in ("she", "her") for w in words) >= 3
        assert 1 <= sum(w in DOMAIN_WORDS["nurse"] for w in words) <= 2
        assert not any(w in DOMAIN_WORDS["professor"] for w in words)
    assert biography(1, 1, rng).text.split()[0] in MALE_NAMES


def test_bad_generator_and_encoding_inputs_name_the_argument():
    import random

    with pytest.raises(ValueError, match="profession"):
        biography(2, 0, random.Random(0))
    with pytest.raises(ValueError, match="n must be"):
        biographies(0, 0, 0)
    with pytest.raises(ValueError, match="bios is empty"):
        encode_bios([], lambda t: [1], 0)
    bios = biographies(2, 0, 0)
    with pytest.raises(ValueError, match="pad_id"):
        encode_bios(bios, lambda t: [5, 6, 7], 6)


def test_encoding_masks_the_first_position_and_the_padding():
    bios = biographies(3, 1, 1)
    data = encode_bios(bios, lambda t: list(range(1, len(t.split()) + 1)), 0)
    for row, bio in zip(data.mask, bios, strict=True):
        assert not row[0] and row.sum() == len(bio.text.split()) - 1


def test_probe_rejects_bad_inputs():
    x = torch.randn(10, 4)
    with pytest.raises(ValueError, match="x must be"):
        train_probe(x, torch.zeros(9, dtype=torch.long))
    with pytest.raises(ValueError, match="NaN"):
        train_probe(x.clone().fill_(float("nan")), torch.zeros(10, dtype=torch.long))
    with pytest.raises(ValueError, match="0/1"):
        train_probe(x, torch.full((10,), 2))


def test_probe_learns_a_separable_direction():
    gen = torch.Generator().manual_seed(0)
    y = torch.randint(0, 2, (200,), generator=gen)
    x = torch.randn(200, 8, generator=gen) + 6 * y[:, None].float() * torch.eye(8)[2]
    probe = train_probe(x, y)
    assert (probe.predict(x) == y).float().mean() > 0.95


def test_probe_logit_module_matches_the_probe_on_pooled_activations(tiny):
    model, tok, encode, pad, saes, _ = tiny
    data = encode_bios(bias_splits(8, 2, 2).ambiguous, encode, pad)
    x = pooled(model, "resid_1", data)
    probe = train_probe(x, data.profession, epochs=5)
    direct = probe.logits(x)
    wrapped = ProbeLogit(model, "resid_1", probe, pad)(data.ids)[:, 0]
    assert torch.allclose(direct, wrapped, atol=1e-4)


def test_ig_effect_equals_the_ablation_effect_where_the_probe_is_linear(tiny):
    """With the SAE at the probe's own hook the signed logit is linear in every feature, so
    IG with a zero patch is exact: each effect equals zeroing that feature."""
    model, tok, encode, pad, saes, _ = tiny
    data = encode_bios(bias_splits(6, 2, 2).ambiguous, encode, pad)
    x = pooled(model, "resid_1", data)
    probe = train_probe(x, data.profession, epochs=5)
    dicts = {"resid_1": saes["resid_1"]}
    effects = feature_effects(model, dicts, "resid_1", probe, data, pad_id=pad, steps=3)
    sign = data.profession.float() * 2 - 1
    for feat in top_features(effects, 3, signed=False):
        ablated = pooled(model, "resid_1", data, ablation_edits(dicts, [feat.feature]))
        change = ((probe.logits(ablated) - probe.logits(x)) * sign).mean()
        assert float(change) == pytest.approx(feat.effect, rel=1e-3, abs=1e-4)


def test_attribution_rejects_dictionaries_above_the_probe(tiny):
    model, tok, encode, pad, saes, _ = tiny
    data = encode_bios(bias_splits(4, 2, 2).ambiguous, encode, pad)
    probe = train_probe(pooled(model, "resid_0", data), data.profession, epochs=1)
    with pytest.raises(ValueError, match="above the probe"):
        feature_effects(model, saes, "resid_0", probe, data, pad_id=pad)


def test_ablation_keeps_the_sae_error(tiny):
    model, tok, encode, pad, saes, ids = tiny
    sae = saes["resid_0"]
    everything = [("resid_0", i) for i in range(sae.n_latents)]
    edit = ablation_edits({"resid_0": sae}, everything)["resid_0"]
    x = record(model, ["resid_0"], ids[:4])["resid_0"]
    err = x - sae.decode(sae.encode(x))
    assert torch.allclose(edit(x), err + sae.b_dec, atol=1e-4)
    with pytest.raises(IndexError, match="width"):
        ablation_edits({"resid_0": sae}, [("resid_0", 10_000)])
    with pytest.raises(KeyError, match="without a dictionary"):
        ablation_edits({"resid_0": sae}, [("resid_9", 1)])


def test_accuracy_reports_gender_agreement_and_the_worst_group():
    bios = [b for p in (0, 1) for g in (0, 1) for b in biographies(2, p, g)]
    data = encode_bios(bios, lambda t: [1, 2, 3], 0)
    acc = accuracy(data.gender.clone(), data)  # a probe that reads gender only
    assert acc.gender == 1.0 and acc.profession == 0.5 and acc.worst_group == 0.0
    assert acc.groups["male professor"] == 1.0 and acc.groups["female professor"] == 0.0


def _evidence(tokens: list[str], idx: int = 1) -> FeatureEvidence:
    return FeatureEvidence(("resid_0", idx), 1.0, tokens, [])


def test_lexicon_judge_ablates_features_whose_top_tokens_are_gender_words():
    judge = LexiconJudge()
    verdicts = judge(
        [_evidence(["she", " her", "She", "Mary", "park"], 1), _evidence(["hospital"] * 5, 2)]
    )
    assert [v.ablate for v in verdicts] == [True, False]
    assert {v.judge for v in verdicts} == {"lexicon"}


def test_label_file_judge_needs_every_feature(tmp_path):
    path = tmp_path / "labels.json"
    path.write_text(json.dumps({"resid_0/1": "ablate"}))
    with pytest.raises(KeyError, match="resid_0/2"):
        LabelFileJudge(path)([_evidence(["a"], 1), _evidence(["b"], 2)])
    path.write_text(json.dumps({"resid_0/1": "ablate", "resid_0/2": "maybe"}))
    with pytest.raises(ValueError, match="'ablate' or 'keep'"):
        LabelFileJudge(path)([_evidence(["a"], 1)])
    with pytest.raises(FileNotFoundError, match="does not exist"):
        LabelFileJudge(tmp_path / "none.json")([_evidence(["a"], 1)])
    path.write_text(json.dumps({"resid_0/1": "keep", "resid_0/2": "ablate"}))
    verdicts = LabelFileJudge(path)([_evidence(["a"], 1), _evidence(["b"], 2)])
    assert [(v.ablate, v.judge) for v in verdicts] == [(False, "person"), (True, "person")]


class ScriptedLLM:
    """An LLM double that answers each feature from a script."""

    name = "scripted"

    def __init__(self, answers: list[dict]) -> None:
        self.answers, self.prompts = list(answers), []

    def chat(self, messages, schema=None, *, max_tokens=None, temperature=0.0):
        self.prompts.append(messages[-1]["content"])
        parsed = self.answers.pop(0)

        class Reply:
            text = json.dumps(parsed)

        Reply.parsed = parsed
        return Reply()


def test_llm_judge_sees_the_evidence_and_its_verdicts_are_marked_llm():
    llm = ScriptedLLM(
        [{"task_irrelevant": True, "reason": "pronouns"}, {"task_irrelevant": False, "reason": "x"}]
    )
    verdicts = LLMJudge(llm)([_evidence(["she", "her"], 1), _evidence(["ward"], 2)])
    assert [v.ablate for v in verdicts] == [True, False] and verdicts[0].judge == "llm"
    assert "'she'" in llm.prompts[0] and "nurse or a professor" in llm.prompts[0]
    with pytest.raises(ValueError, match="no verdict"):
        LLMJudge(ScriptedLLM([{"answer": "yes"}]))([_evidence(["she"], 1)])


def test_person_overrides_replace_the_judges_verdicts():
    verdicts = LexiconJudge()([_evidence(["she"] * 3, 1), _evidence(["ward"] * 3, 2)])
    edited = with_overrides(verdicts, ablate=["resid_0/2"], keep=["resid_0/1"])
    assert [(v.ablate, v.judge) for v in edited] == [(False, "person"), (True, "person")]
    with pytest.raises(KeyError, match="not among"):
        with_overrides(verdicts, ablate=["resid_0/9"])
    with pytest.raises(ValueError, match="both"):
        with_overrides(verdicts, ablate=["resid_0/1"], keep=["resid_0/1"])


def test_tiny_shift_run_reports_every_method_of_the_paper(tiny):
    model, tok, encode, pad, saes, ids = tiny
    dicts = {"resid_0": saes["resid_0"]}
    data = encode_splits(bias_splits(30, 10, 10, seed=1), encode, pad)
    config = ShiftConfig(
        hook="resid_1", n_attribution=12, n_top=8, ig_steps=2, concepts=("the hospital.",)
    )
    proposal = propose(model, dicts, data, ids[:40], tok.decode, pad, LexiconJudge(), config)
    assert len(proposal.evidence) == 8 and all(e.tokens for e in proposal.evidence)
    ablate = [e.feature for e in proposal.evidence[:3]]
    result = evaluate(model, dicts, data, proposal, ablate, encode, pad, "person", config)
    assert list(result.rows) == [
        "Original",
        "Concept bottleneck",
        "Random",
        "SHIFT",
        "SHIFT + retrain",
        "Feature skyline",
        "Neuron skyline",
        "Oracle",
    ]
    assert all(0 <= a.profession <= 1 and 0 <= a.worst_group <= 1 for a in result.rows.values())
    assert result.ablated == ablate and len(result.skyline_neurons) == 3
