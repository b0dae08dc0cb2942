"""Taylor-score filter pruning (Molchanov 2017/2019) for compact face-recognition CNNs.

    from methods.pruning import (MarginHead, Schedule, TrainConfig, digits_identities,
                                 make_importance, mini_mobilenetv2, prune, train)

    train_set, test_set = digits_identities().split(0.3, seed=0)
    model, head = mini_mobilenetv2(), MarginHead(64, train_set.n_classes)
    train(model, head, train_set, TrainConfig(epochs=20))
    result = prune(model, head, train_set, test_set, make_importance("taylor"),
                   Schedule(target=0.5, unit="filters"))

Channels are removed physically through Torch-Pruning's dependency graph (DepGraph). See
README.md for the criteria, the loop and the benchmark.
"""

from methods.pruning.data import IdentitySet, augment, digits_identities, load_image_folder
from methods.pruning.importance import (
    CRITERIA,
    TaylorActivationImportance,
    TaylorFOBNImportance,
    make_importance,
)
from methods.pruning.models import (
    BACKBONES,
    EmbeddingNet,
    MarginHead,
    build_backbone,
    mini_mobilenetv2,
    mini_resnet,
    mobilenetv2,
    resnet50,
    squeezenet_bn,
)
from methods.pruning.oracle import OracleCheck, oracle_check
from methods.pruning.prune import (
    UNITS,
    Cost,
    LayerChange,
    Measure,
    PruneResult,
    Schedule,
    compare_latency,
    conv_widths,
    cost,
    prune,
)
from methods.pruning.train import (
    TrainConfig,
    Verification,
    accuracy,
    embed,
    train,
    verification,
)

__all__ = [
    "BACKBONES",
    "CRITERIA",
    "UNITS",
    "Cost",
    "EmbeddingNet",
    "IdentitySet",
    "LayerChange",
    "MarginHead",
    "Measure",
    "OracleCheck",
    "PruneResult",
    "Schedule",
    "TaylorActivationImportance",
    "TaylorFOBNImportance",
    "TrainConfig",
    "Verification",
    "accuracy",
    "augment",
    "build_backbone",
    "compare_latency",
    "conv_widths",
    "cost",
    "digits_identities",
    "embed",
    "load_image_folder",
    "make_importance",
    "mini_mobilenetv2",
    "mini_resnet",
    "mobilenetv2",
    "oracle_check",
    "prune",
    "resnet50",
    "squeezenet_bn",
    "train",
    "verification",
]
