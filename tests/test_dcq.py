"""DCQ library: the estimate (including the repository's published reports), quizzes, partitions,
perturbation validation, simulated and scripted takers, bad inputs."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from methods.dcq import (
    ChatQuizTaker,
    Instance,
    PerturbationError,
    SimulatedTaker,
    bias_compensator_quiz,
    bias_detector_quiz,
    estimate,
    generated_partitions,
    instances_from_rows,
    load_partition,
    non_preferred_positions,
    parse_letter,
    perturb_partition,
    render_quiz,
    run_dcq,
    validate_perturbations,
)


def counts(values: list[int]) -> dict[str, int]:
    return dict(zip("ABCDE", values, strict=True))


def test_estimate_rebuilds_xsum_gpt4_report_95_95():
    est = estimate(
        100,
        counts([41, 7, 2, 8, 42]),
        {
            "B": counts([2, 95, 0, 0, 3]),
            "C": counts([3, 0, 95, 1, 1]),
            "D": counts([4, 0, 1, 95, 0]),
        },
    )
    assert est.non_preferred == ("B", "C", "D")
    assert est.best_position == "C"  # ties at 95 go to the smallest BDQ count
    assert (round(100 * est.lower, 2), round(100 * est.upper, 2)) == (95.0, 95.0)


def test_estimate_rebuilds_gsm8k_report_78_79():
    est = estimate(
        100,
        counts([44, 2, 1, 1, 52]),
        {
            "B": counts([30, 55, 0, 0, 15]),
            "C": counts([24, 1, 69, 0, 6]),
            "D": counts([14, 0, 0, 79, 7]),
        },
    )
    assert est.best_position == "D"
    assert round(100 * est.lower, 2) == 78.79 and round(100 * est.upper, 2) == 79.0


def test_estimate_rebuilds_wnli_gpt35_report_with_all_positions_non_preferred():
    est = estimate(
        71,
        counts([0, 0, 4, 0, 67]),
        {
            "A": counts([0, 0, 1, 0, 70]),
            "B": counts([0, 0, 2, 0, 69]),
            "C": counts([0, 0, 9, 0, 62]),
            "D": counts([0, 0, 2, 2, 67]),
        },
    )
    assert est.non_preferred == ("A", "B", "C", "D")
    # The repo printed 7.47 from percentages rounded to 2 decimals; exact counts give 7.46.
    assert abs(100 * est.lower - 7.47) < 0.02 and round(100 * est.upper, 2) == 12.68


def test_non_preferred_falls_back_to_all_positions_and_never_counts_e():
    assert non_preferred_positions(counts([25, 25, 25, 25, 0]), 100) == ("A", "B", "C", "D")
    assert non_preferred_positions(counts([0, 0, 0, 0, 100]), 100) == ("A", "B", "C", "D")
    assert non_preferred_positions(counts([20, 19, 30, 31, 0]), 100) == ("B",)


def test_estimate_with_one_non_preferred_position_uses_kappa_alone():
    est = estimate(100, counts([20, 19, 30, 31, 0]), {"B": counts([10, 50, 20, 20, 0])})
    assert est.upper == 0.5 and est.lower == pytest.approx((50 - 19) / (100 - 19))


@pytest.mark.parametrize(
    ("n", "bdq", "bcq", "match"),
    [
        (0, counts([0] * 5), {}, "n must be"),
        (10, counts([5, 5, 0, 0, 1]), {}, "summing to n=10"),
        (10, {"A": 10, "F": 0}, {}, "letters A-E"),
        (10, counts([10, 0, 0, 0, 0]), {"B": counts([0, 10, 0, 0, 0])}, "non-preferred position"),
    ],
)
def test_estimate_rejects_bad_counts(n, bdq, bcq, match):
    with pytest.raises(ValueError, match=match):
        estimate(n, bdq, bcq)


@pytest.mark.parametrize("c", [0.0, 0.3, 0.7, 1.0])
def test_simulated_taker_range_recovers_c(c):
    inst = generated_partitions({"S": 200}, seed=1)["S"]
    perts = [[i.with_fields(text=f"{i.fields['text']} v{k}") for k in range(4)] for i in inst]
    report = run_dcq(inst, perts, SimulatedTaker(c, seed=3), dataset="Sim", split="test")
    est = report.estimate
    assert est.lower - 0.1 <= c <= est.upper + 0.1
    if c == 0.0:
        assert est.upper <= 0.3


def test_quizzes_place_the_original_and_render_five_options():
    perts = ["p1", "p2", "p3", "p4"]
    bdq = bias_detector_quiz(perts)
    assert bdq.original_at is None and bdq.options == tuple(perts)
    bcq = bias_compensator_quiz("orig", perts, "C")
    assert bcq.options == ("p1", "p2", "orig", "p4") and bcq.original_at == "C"
    text = render_quiz(bcq, "IMDB", "test")
    assert "test split of the IMDB dataset" in text and "E)\nNone of the provided options" in text
    assert text.index("A)\np1") < text.index("C)\norig") < text.index("ANSWER:")
    with pytest.raises(ValueError, match="position must be one of A-D"):
        bias_compensator_quiz("o", perts, "E")
    with pytest.raises(ValueError, match="exactly 4"):
        bias_detector_quiz(perts[:3])


@pytest.mark.parametrize(
    ("reply", "letter"), [("B", "B"), ("C) the third", "C"), ("Answer: D", "D")]
)
def test_parse_letter_reads_the_first_standalone_option_letter(reply, letter):
    assert parse_letter(reply) == letter


def test_parse_letter_rejects_a_reply_without_a_letter():
    with pytest.raises(ValueError, match="names no option letter"):
        parse_letter("I am not sure")


@dataclass
class _Reply:
    text: str
    parsed: Any = None


class ScriptedLLM:
    """Answers each quiz with the letter of the option that contains 'orig', else E."""

    name = "scripted"

    def chat(self, messages, schema=None, *, max_tokens=None, temperature=0.0):
        prompt = messages[-1]["content"]
        for letter in "ABCD":
            if f"{letter})\ntext: orig" in prompt:
                return _Reply(f"{letter})")
        return _Reply("E")


def test_chat_taker_that_always_finds_the_original_scores_full_contamination():
    inst = [Instance(str(i), {"text": f"orig {i}"}) for i in range(10)]
    perts = [[Instance(str(i), {"text": f"pert {i} {k}"}) for k in range(4)] for i in range(10)]
    report = run_dcq(inst, perts, ChatQuizTaker(ScriptedLLM()), dataset="X", split="test")
    assert report.estimate.bdq["E"] == 10
    assert report.estimate.lower == report.estimate.upper == 1.0
    assert report.examples[0]["bcq_answers"]["A"] == "A"


def test_load_partition_reads_jsonl_and_csv_and_samples_reproducibly(tmp_path):
    rows = [{"text": f"sentence {i}", "label": i % 2} for i in range(30)]
    jsonl = tmp_path / "p.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in rows))
    csv = tmp_path / "p.csv"
    csv.write_text("text,label\n" + "\n".join(f"{r['text']},{r['label']}" for r in rows))
    a = load_partition(jsonl, ["text"], label_columns=["label"], n=5, seed=2)
    b = load_partition(csv, ["text"], label_columns=["label"], n=5, seed=2)
    assert [i.fields for i in a] == [i.fields for i in b] and len(a) == 5
    assert a[0].render().startswith("text: sentence") and "label: " in a[0].render()
    assert a[0].free == ["text"]


def test_load_partition_errors_name_the_argument(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_partition(tmp_path / "missing.jsonl", ["text"])
    bad = tmp_path / "p.txt"
    bad.write_text("x")
    with pytest.raises(ValueError, match="must end in .jsonl"):
        load_partition(bad, ["text"])
    with pytest.raises(ValueError, match="columns \\['body'\\] are not in the partition"):
        instances_from_rows([{"text": "a"}], ["body"])
    with pytest.raises(ValueError, match="rows is empty"):
        instances_from_rows([], ["text"])


def test_validation_rejects_duplicates_originals_and_changed_labels():
    orig = Instance("1", {"text": "the old red boat", "label": "pos"}, ("label",))
    good = [orig.with_fields(text=f"the old red {w}") for w in ("ship", "canoe", "raft", "barge")]
    validate_perturbations(orig, good)
    with pytest.raises(PerturbationError, match="not distinct"):
        validate_perturbations(orig, [good[0]] * 4)
    with pytest.raises(PerturbationError, match="equals the original"):
        validate_perturbations(orig, [*good[:3], orig])
    relabelled = Instance("1", {"text": "the old red dinghy", "label": "neg"}, ("label",))
    with pytest.raises(PerturbationError, match="label column 'label' changed"):
        validate_perturbations(orig, [*good[:3], relabelled])
    with pytest.raises(ValueError, match="only the free columns"):
        orig.with_fields(label="neg")


class CountingPerturber:
    name = "counting"

    def __init__(self) -> None:
        self.calls = 0

    def perturb(self, instance: Instance) -> list[Instance]:
        self.calls += 1
        return [instance.with_fields(text=instance.fields["text"] + f" {k}") for k in range(4)]


def test_perturb_partition_caches_by_perturber_and_instance(tmp_path):
    inst = generated_partitions({"P": 3}, seed=0)["P"]
    perturber = CountingPerturber()
    first = perturb_partition(inst, perturber, cache=tmp_path / "c.json")
    second = perturb_partition(inst, perturber, cache=tmp_path / "c.json")
    assert perturber.calls == 3
    assert [[p.render() for p in ps] for ps in first] == [[p.render() for p in ps] for ps in second]


def test_generated_partitions_are_disjoint():
    parts = generated_partitions({"A": 30, "B": 30}, seed=0)
    a = {i.fields["text"] for i in parts["A"]}
    assert len(a) == 30 and not a & {i.fields["text"] for i in parts["B"]}
