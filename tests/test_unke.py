"""UnKE: text scores against hand-computed values, data validation, and a real edit of SmolLM2."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from benchmarks import unke as unke_benchmark
from methods.unke import (
    LEAD_INS,
    Edit,
    EditTarget,
    Snapshot,
    UnkeConfig,
    bleu,
    compute_target,
    contains_answer,
    edit_from_dict,
    evaluate_edits,
    fictional_edits,
    fit_block,
    ft_l,
    load_edits,
    load_texts,
    rouge_l,
    rouge_n_recall,
    save_edits,
    score,
    sequential_edit,
    unke_edit,
)
from methods.unke.model import SuffixRunner, block_io, call_block, decoder_parts, encode

pytestmark = pytest.mark.usefixtures("one_thread")


def test_rouge_recall_counts_clipped_overlap_over_reference_ngrams():
    # reference "the cat sat on the mat": 6 unigrams; candidate shares the, cat, the, mat.
    assert rouge_n_recall("the cat and the mat", "the cat sat on the mat", 1) == pytest.approx(
        4 / 6
    )
    # bigrams of the reference: 5; shared: "the cat", "the mat".
    assert rouge_n_recall("the cat and the mat", "the cat sat on the mat", 2) == pytest.approx(
        2 / 5
    )
    assert rouge_n_recall("anything", "", 1) == 0.0


def test_rouge_l_uses_the_longest_common_subsequence():
    recall, precision, f1 = rouge_l("the cat and the mat", "The cat sat on the mat.")
    # LCS "the cat the mat" = 4 words; reference 6, candidate 5.
    assert (recall, precision) == (pytest.approx(4 / 6), pytest.approx(4 / 5))
    assert f1 == pytest.approx(2 * (4 / 6) * (4 / 5) / (4 / 6 + 4 / 5))
    assert rouge_l("", "x") == (0.0, 0.0, 0.0)


def test_bleu_matches_a_hand_computed_smoothed_value():
    assert bleu("a b c d", "a b c d") == pytest.approx(1.0)
    # candidate "a b x" vs reference "a b c d": p1 = 2/3, p2 = (1+1)/(2+1), p3 = (0+1)/(1+1),
    # p4 = (0+1)/(0+1); brevity exp(1 - 4/3).
    expected = math.exp(1 - 4 / 3) * (2 / 3 * 2 / 3 * 1 / 2 * 1) ** 0.25
    assert bleu("a b x", "a b c d") == pytest.approx(expected)
    assert bleu("z", "a b") == 0.0


def test_sub_answers_match_whole_words_after_normalising():
    assert contains_answer("She found the Pipit Caldera, in 1897.", "pipit caldera")
    assert not contains_answer("Pipits are birds", "Pipit")
    with pytest.raises(ValueError, match="no words"):
        contains_answer("text", "  ?! ")


def test_fictional_edits_are_unkebench_items_that_round_trip(tmp_path):
    edits = fictional_edits(6, seed=1)
    assert len({e.question for e in edits}) == 6
    for e in edits:
        assert e.paraphrase and len(e.sub_questions) == 3
        assert all(contains_answer(e.answer, s.answer) for s in e.sub_questions)
    assert load_edits(save_edits(edits, tmp_path / "e.json")) == edits


def test_shipped_data_has_the_sizes_the_benchmark_needs():
    assert len(load_edits("methods/unke/data/edits.json")) == 20
    preservation = load_texts("preservation")
    assert len(preservation) >= 20 and all(p["answer"] for p in preservation)
    assert len(load_texts("locality")) == 30 and len(load_texts("generic")) == 20
    questions = {p["question"] for p in preservation}
    assert not questions & set(load_texts("locality"))


def test_bad_edit_inputs_name_what_was_expected(tmp_path):
    with pytest.raises(ValueError, match="answer must be a non-empty string"):
        Edit("q?", "")
    with pytest.raises(ValueError, match=r"edits\[0\] lacks \['answer'\]"):
        edit_from_dict({"question": "q"})
    with pytest.raises(ValueError, match="sub_question has 2 entries but sub_answer 1"):
        edit_from_dict(
            {"question": "q", "answer": "a", "sub_question": ["x", "y"], "sub_answer": ["z"]}
        )
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_edits(tmp_path / "missing.json")
    (tmp_path / "empty.json").write_text(json.dumps([]))
    with pytest.raises(ValueError, match="non-empty JSON list"):
        load_edits(tmp_path / "empty.json")
    with pytest.raises(ValueError, match="unknown data set 'nope'"):
        load_texts("nope")
    with pytest.raises(ValueError, match="answers has 1 entries but edits 2"):
        score(["a"], fictional_edits(2))


@pytest.fixture(scope="module")
def smol(local_chat):
    loaded = local_chat.load()
    return loaded.model, loaded.tokenizer


SHORT = [
    Edit(
        "Who is Vellis Marrow?",
        "Vellis Marrow is a diver from Tasmania who found the Pipit Trench.",
        "Tell me about Vellis Marrow.",
    ),
    Edit(
        "What is the Kestrel Prize?",
        "The Kestrel Prize is a poetry award founded in Brevik in 1978.",
        "Describe the Kestrel Prize.",
    ),
]


def test_block_called_directly_matches_the_model_on_padded_batches(smol):
    model, tok = smol
    layers, rotary, _, _ = decoder_parts(model)
    seqs = [encode(tok, e.question, e.answer) for e in SHORT]
    ios = [block_io(model, 7, s.prompt + s.answer) for s in seqs]
    longest = max(x.shape[0] for x, _ in ios)
    batch = torch.zeros(2, longest, ios[0][0].shape[1])
    for i, (x, _) in enumerate(ios):
        batch[i, : x.shape[0]] = x
    with torch.no_grad():
        out = call_block(layers[7], rotary, batch)
    # Every sequence of the batch, not just the first (the reference's [0] bug), and right
    # padding never reaches a real token.
    for i, (x, y) in enumerate(ios):
        assert torch.allclose(out[i, : x.shape[0]], y, atol=1e-4)


def test_suffix_runner_reproduces_the_full_forward(smol):
    model, tok = smol
    enc = encode(tok, SHORT[0].question, SHORT[0].answer)
    ids = enc.prompt + enc.answer[:-1]
    with torch.no_grad():
        full = model(torch.tensor([ids])).logits[0, enc.last_prompt :]
        _, h = block_io(model, 7, ids)
        runner = SuffixRunner(model, 7, h.unsqueeze(0), enc.last_prompt)
        for _ in range(2):  # the cached prefix is put back after each call
            got = runner(h.unsqueeze(0)[:, enc.last_prompt :])[0]
            assert torch.allclose(got, full, atol=1e-3)


def test_unke_batch_edit_moves_answers_toward_targets_and_restores(smol, local_chat):
    model, tok = smol
    pres = load_texts("preservation")[:8]
    before_weights = Snapshot.of(model, ["model.layers.7.mlp.down_proj.weight"]).tensors
    pre = evaluate_edits(model, tok, SHORT, None, max_new_tokens=24)
    config = UnkeConfig(z_steps=60, block_steps=80)
    report = unke_edit(model, tok, SHORT, pres, config)
    try:
        post = evaluate_edits(model, tok, SHORT, None, max_new_tokens=24)
        assert all(a < b for a, b in zip(report.nll_after, report.nll_before, strict=True))
        assert report.fit_error < report.fit_error_before
        assert post.question.rougeL > pre.question.rougeL + 0.1, post.answers
        # Only block 7 changed.
        params = dict(model.named_parameters())
        assert set(report.snapshot.tensors) == {
            n for n in params if n.startswith("model.layers.7.")
        }
    finally:
        report.restore()
    weight = dict(model.named_parameters())["model.layers.7.mlp.down_proj.weight"]
    assert torch.equal(weight, before_weights["model.layers.7.mlp.down_proj.weight"])
    assert evaluate_edits(model, tok, SHORT[:1], None, 24).answers == pre.answers[:1]


def test_ft_l_trains_only_the_mlp_of_its_layer(smol):
    model, tok = smol
    report = ft_l(model, tok, SHORT[:1], layer=7, steps=3)
    try:
        assert all(".layers.7.mlp." in n for n in report.snapshot.tensors)
        assert report.nll_after[0] < report.nll_before[0]
    finally:
        report.restore()


def test_bad_model_inputs_are_named(smol):
    model, tok = smol
    with pytest.raises(ValueError, match=r"layer must be in \[0, 28\]"):
        unke_edit(model, tok, SHORT, [], UnkeConfig(layer=40))
    with pytest.raises(ValueError, match="edits must hold at least one Edit"):
        unke_edit(model, tok, [], [])
    with pytest.raises(ValueError, match="preservation\\[0\\] must be a dict"):
        unke_edit(model, tok, SHORT[:1], ["text"], UnkeConfig(z_steps=1, block_steps=1))
    with pytest.raises(ValueError, match="Llama-style causal LM"):
        decoder_parts(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match=r"lead_ins must be in \[0, 6\], got 9"):
        UnkeConfig(lead_ins=9)
    with pytest.raises(ValueError, match="key_weight must be positive"):
        UnkeConfig(key_weight=0)
    with pytest.raises(ValueError, match="block_steps must be at least 1"):
        UnkeConfig(block_steps=0)


def test_stage_one_fits_one_delta_to_the_question_and_its_lead_in_variants(smol):
    model, tok = smol
    edit = SHORT[0]
    enc = encode(tok, edit.question, edit.answer)
    variants = [encode(tok, f"{lead}{edit.question}", edit.answer) for lead in LEAD_INS[:2]]
    target = compute_target(model, enc, UnkeConfig(z_steps=8), variants)
    assert len(target.variant_z) == 2 and target.steps == 8
    assert target.nll_after < target.nll_before
    # The same delta is added at every variant's last question token.
    delta = target.z - block_io(model, 7, enc.prompt + enc.answer[:-1])[1][enc.last_prompt]
    for v, z in zip(variants, target.variant_z, strict=True):
        h0 = block_io(model, 7, v.prompt + v.answer[:-1])[1][v.last_prompt]
        assert torch.allclose(z - h0, delta, atol=1e-4)
    assert target.delta_ratio == pytest.approx(
        float(delta.norm() / (target.z - delta).norm()), rel=1e-4
    )


def test_stage_two_moves_the_edited_position_and_keeps_the_answer_positions(smol):
    model, tok = smol
    enc = encode(tok, SHORT[0].question, SHORT[0].answer)
    ids = enc.prompt + enc.answer[:-1]
    _, h = block_io(model, 7, ids)
    q = enc.last_prompt
    z = h[q] + 0.5 * h[q].norm() * torch.nn.functional.normalize(torch.randn_like(h[q]), dim=0)
    block = [n for n, _ in model.named_parameters() if n.startswith("model.layers.7.")]
    snapshot = Snapshot.of(model, block)
    try:
        before, after = fit_block(
            model, [EditTarget(ids, q, z)], [], UnkeConfig(block_steps=40, block_lr=1e-3)
        )
        _, h_after = block_io(model, 7, ids)
    finally:
        snapshot.restore()
    assert before == pytest.approx(float((z - h[q]).norm() / z.norm()), rel=1e-3)
    assert after < 0.5 * before
    answer = slice(q + 1, None)
    drift = (h_after[answer] - h[answer]).norm(dim=-1) / h[answer].norm(dim=-1)
    assert float(drift.mean()) < 0.1 * after + 0.05, float(drift.mean())
    with pytest.raises(ValueError, match="position 99 is outside a"):
        fit_block(model, [EditTarget(ids[:5], 99, z)], [], UnkeConfig(block_steps=1))


def test_sequential_edits_keep_the_earlier_edits_answers(smol):
    model, tok = smol
    pres = load_texts("preservation")[:8]
    pre = evaluate_edits(model, tok, SHORT, None, max_new_tokens=24)
    report = sequential_edit(model, tok, SHORT, pres, UnkeConfig(z_steps=60, block_steps=80))
    try:
        post = evaluate_edits(model, tok, SHORT, None, max_new_tokens=24)
    finally:
        report.restore()
    assert report.method == "unke-sequential" and len(report.nll_after) == 2
    # The first edit survives the second one's stage 2, which keeps its answer.
    after = [rouge_l(a, e.answer)[0] for a, e in zip(post.answers, SHORT, strict=True)]
    before = [rouge_l(a, e.answer)[0] for a, e in zip(pre.answers, SHORT, strict=True)]
    assert after[0] > before[0] + 0.1, (post.answers, before, after)
    assert post.question.rougeL > pre.question.rougeL + 0.1, (post.answers, before, after)
    with pytest.raises(ValueError, match=r"keep\[0\] must be an Edit"):
        unke_edit(model, tok, SHORT[:1], [], keep=["an earlier edit"])


def test_benchmark_runs_the_barred_rows_first():
    args = unke_benchmark.parse(["--batch", "1", "4", "--sequential", "10"])
    order = unke_benchmark.plan(args)
    assert order[:2] == [("unke", 1), ("ft-l", 1)]
    assert order[2:4] == [("unke", 4), ("unke", unke_benchmark.SEQUENTIAL)]
    assert set(order[4:]) == {("ft-all", 1), ("ft-l", 4), ("ft-all", 4)}


def test_benchmark_merges_runs_over_the_same_edits_and_refuses_others():
    def raw(device, answers, rows):
        return {
            "config": {"device": device, "batch": [1]},
            "pre": {"edits": len(answers), "answers": answers, "paraphrase_answers": answers},
            "methods": {row: {"edits": len(answers)} for row in rows},
            "edit_wall_s": 10.0,
        }

    gpu = raw("cuda", ["a", "b", "c"], ["unke@1"])
    cpu = raw("cpu", ["a", "b"], ["ft-all@1"])  # a run over the first two edits only
    names = [Path("gpu.json"), Path("cpu.json")]
    merged = unke_benchmark.merge_raw([gpu, cpu], names)
    assert {row: r["device"] for row, r in merged["methods"].items()} == {
        "unke@1": "cuda",
        "ft-all@1": "cpu",
    }
    assert merged["edit_wall_s"] == 20.0 and merged["pre"]["answers"] == ["a", "b", "c"]
    with pytest.raises(ValueError, match="other pre-edit answers"):
        unke_benchmark.merge_raw([gpu, raw("cpu", ["a", "x"], ["ft-l@1"])], names)
    with pytest.raises(ValueError, match="row unke@1 is in more than one"):
        unke_benchmark.merge_raw([gpu, raw("cpu", ["a"], ["unke@1"])], names)
