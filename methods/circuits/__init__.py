"""Sparse feature circuits: SAEs, attribution patching and IG, circuit discovery and evaluation.

    from methods.circuits import Task, logit_diff, node_effects, top_circuit, Evaluator

    task = Task(clean_ids, logit_diff(patch_answer, clean_answer), patch=patch_ids)
    effects = node_effects(model, {"resid_3": sae3, "resid_6": sae6}, task, method="ig")
    circuit = top_circuit(effects, 300)
    print(Evaluator(model, saes, eval_task).faithfulness(circuit))

Marks, Rager, Michaud, Belinkov, Bau & Mueller, arXiv 2403.19647 (ICLR 2025). See README.md.
"""

from methods.circuits.agreement import (
    FAMILIES,
    NOUNS,
    Pair,
    PairTokens,
    keep_correct,
    make_pairs,
    split_nouns,
    task_sentences,
    tokenize_pairs,
)
from methods.circuits.attribution import (
    Acts,
    Edge,
    Effects,
    Node,
    Task,
    dictionary_acts,
    edge_effects,
    effect_of,
    exact_effects,
    logit_diff,
    next_token_loss,
    node_effects,
    top_nodes,
)
from methods.circuits.buffer import ActivationBuffer
from methods.circuits.circuit import (
    Circuit,
    Evaluator,
    Faithfulness,
    empty_like,
    faithfulness,
    faithfulness_curve,
    from_nodes,
    full_like,
    random_circuit,
    run_ablated,
    sum_over_positions,
    threshold,
    top_circuit,
)
from methods.circuits.clusters import (
    BehaviourConfig,
    Behaviours,
    find_behaviours,
    spherical_kmeans,
    token_gradients,
    token_rows,
)
from methods.circuits.clusters_circuits import (
    ClusterCircuit,
    ClusterCircuitConfig,
    cluster_circuits,
)
from methods.circuits.clusters_report import write_report
from methods.circuits.corpus import corpus, docstrings
from methods.circuits.dictionaries import (
    load_all,
    measure,
    quality_rows,
    save_all,
    train_dictionaries,
)
from methods.circuits.hooks import edit_outputs, hook_points, logits_of, point_order, record
from methods.circuits.render import Context, graph, top_contexts, write
from methods.circuits.sae import (
    IdentityDictionary,
    Quality,
    SparseAutoencoder,
    TrainConfig,
    Trainer,
    ce_loss_recovered,
    load_dictionary,
    quality,
    save_dictionary,
    train_sae,
    train_saes,
)

__all__ = [
    "ActivationBuffer",
    "Acts",
    "BehaviourConfig",
    "Behaviours",
    "Circuit",
    "ClusterCircuit",
    "ClusterCircuitConfig",
    "Context",
    "Edge",
    "Effects",
    "Evaluator",
    "FAMILIES",
    "Faithfulness",
    "IdentityDictionary",
    "NOUNS",
    "Node",
    "Pair",
    "PairTokens",
    "Quality",
    "SparseAutoencoder",
    "Task",
    "TrainConfig",
    "Trainer",
    "ce_loss_recovered",
    "cluster_circuits",
    "corpus",
    "dictionary_acts",
    "docstrings",
    "edge_effects",
    "edit_outputs",
    "effect_of",
    "empty_like",
    "exact_effects",
    "faithfulness",
    "faithfulness_curve",
    "find_behaviours",
    "from_nodes",
    "full_like",
    "graph",
    "hook_points",
    "keep_correct",
    "load_all",
    "load_dictionary",
    "logit_diff",
    "logits_of",
    "make_pairs",
    "measure",
    "next_token_loss",
    "node_effects",
    "point_order",
    "quality",
    "quality_rows",
    "random_circuit",
    "record",
    "run_ablated",
    "sum_over_positions",
    "save_all",
    "save_dictionary",
    "spherical_kmeans",
    "split_nouns",
    "task_sentences",
    "threshold",
    "token_gradients",
    "token_rows",
    "tokenize_pairs",
    "top_circuit",
    "top_contexts",
    "top_nodes",
    "train_dictionaries",
    "train_sae",
    "train_saes",
    "write",
    "write_report",
]
