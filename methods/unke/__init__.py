"""UnKE: editing unstructured, long-form knowledge into a causal LM by retraining one whole block.

    from methods.unke import UnkeConfig, fictional_edits, load_texts, unke_edit, evaluate_edits

    edits = fictional_edits(2)
    report = unke_edit(model, tokenizer, edits, load_texts("preservation"), UnkeConfig(layer=7))
    print(evaluate_edits(model, tokenizer, edits).question)
    report.restore()

Deng et al., "Everything is Editable: Extend Knowledge Editing to Unstructured Data in Large
Language Models", arXiv 2405.15349. See README.md for the stages and the benchmark.
"""

from methods.unke.data import (
    Edit,
    SubQuestion,
    edit_from_dict,
    edit_to_dict,
    fictional_edits,
    load_edits,
    load_texts,
    save_edits,
)
from methods.unke.edit import (
    LEAD_INS,
    EditReport,
    EditTarget,
    Snapshot,
    Target,
    UnkeConfig,
    compute_target,
    fit_block,
    ft_all,
    ft_l,
    sequential_edit,
    unke_edit,
)
from methods.unke.evaluate import (
    EditEvaluation,
    Locality,
    Reference,
    Scores,
    evaluate_edits,
    generate,
    locality,
    reference,
    score,
)
from methods.unke.metrics import bleu, contains_answer, rouge_l, rouge_n_recall

__all__ = [
    "LEAD_INS",
    "Edit",
    "EditEvaluation",
    "EditReport",
    "EditTarget",
    "Locality",
    "Reference",
    "Scores",
    "Snapshot",
    "Target",
    "SubQuestion",
    "UnkeConfig",
    "bleu",
    "compute_target",
    "contains_answer",
    "edit_from_dict",
    "edit_to_dict",
    "evaluate_edits",
    "fictional_edits",
    "fit_block",
    "ft_all",
    "ft_l",
    "generate",
    "load_edits",
    "load_texts",
    "locality",
    "reference",
    "rouge_l",
    "rouge_n_recall",
    "save_edits",
    "score",
    "sequential_edit",
    "unke_edit",
]
