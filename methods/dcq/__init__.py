"""Data Contamination Quiz (DCQ): estimate how much of a dataset partition a model has seen.

    from methods.dcq import ChatQuizTaker, LexicalPerturber, load_partition, perturb_partition
    from methods.dcq import run_dcq

    instances = load_partition("test.jsonl", ["text"], label_columns=["label"], n=100)
    perturbed = perturb_partition(instances, LexicalPerturber(model, tokenizer), cache="p.json")
    report = run_dcq(instances, perturbed, ChatQuizTaker(llm), dataset="IMDB", split="test")
    print(report.estimate.lower, report.estimate.upper)

Golchin & Surdeanu, "Data Contamination Quiz", arXiv 2311.06233 (TACL 2025). See README.md.
"""

from methods.dcq.contaminate import TrainLog, format_quizzes, memorize, teach_quiz_format
from methods.dcq.corpus import generate_sentences, generated_partitions
from methods.dcq.data import Instance, instances_from_rows, load_partition, read_rows
from methods.dcq.estimate import (
    LETTERS,
    POSITIONS,
    ContaminationEstimate,
    count_letters,
    estimate,
    non_preferred_positions,
)
from methods.dcq.perturb import (
    LexicalPerturber,
    LLMPerturber,
    PerturbationError,
    Perturber,
    perturb_partition,
    validate_perturbations,
    words_changed,
)
from methods.dcq.quiz import (
    Quiz,
    bias_compensator_quiz,
    bias_detector_quiz,
    parse_letter,
    render_quiz,
)
from methods.dcq.run import DCQReport, plot_report, run_dcq
from methods.dcq.simulate import DEFAULT_PRIOR, SimulatedTaker
from methods.dcq.takers import (
    ChatQuizTaker,
    LogitQuizTaker,
    QuizTaker,
    likelihood_first,
    sequence_logprobs,
)

__all__ = [
    "DEFAULT_PRIOR",
    "LETTERS",
    "POSITIONS",
    "ChatQuizTaker",
    "ContaminationEstimate",
    "DCQReport",
    "Instance",
    "LLMPerturber",
    "LexicalPerturber",
    "LogitQuizTaker",
    "PerturbationError",
    "Perturber",
    "Quiz",
    "QuizTaker",
    "SimulatedTaker",
    "TrainLog",
    "bias_compensator_quiz",
    "bias_detector_quiz",
    "count_letters",
    "estimate",
    "format_quizzes",
    "generate_sentences",
    "generated_partitions",
    "instances_from_rows",
    "likelihood_first",
    "load_partition",
    "memorize",
    "non_preferred_positions",
    "parse_letter",
    "perturb_partition",
    "plot_report",
    "read_rows",
    "render_quiz",
    "run_dcq",
    "sequence_logprobs",
    "teach_quiz_format",
    "validate_perturbations",
    "words_changed",
]
