"""The pruning library: Taylor scores, surgery on the dependency graph, the loop, bad inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from methods.pruning import (
    IdentitySet,
    MarginHead,
    Schedule,
    TaylorActivationImportance,
    TaylorFOBNImportance,
    TrainConfig,
    build_backbone,
    digits_identities,
    load_image_folder,
    make_importance,
    mini_mobilenetv2,
    mini_resnet,
    oracle_check,
    prune,
    train,
    verification,
)

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = dict(steps=2, batches_per_step=2, finetune_batches=1, final_epochs=0, batch_size=32)


@pytest.fixture(scope="module")
def digits():
    data = digits_identities((0, 1, 2), size=16)
    small = data.subset(np.arange(0, len(data), 3))
    return small.split(0.3, seed=0)


def _backward(model, head, data):
    model.train()
    model.zero_grad()
    head(model(data.images[:32]), data.labels[:32]).backward()


def test_fobn_score_is_the_squared_gradient_of_a_gate_after_batchnorm(digits):
    train_set, _ = digits
    torch.manual_seed(0)
    model, head = mini_resnet(width=0.5), MarginHead(64, 3)
    bn = model.features[1].bn1  # inside a block: not coupled to any other BN
    gate = torch.ones(bn.num_features, requires_grad=True)
    handle = bn.register_forward_hook(lambda m, i, o: o * gate[None, :, None, None])
    _backward(model, head, train_set)
    handle.remove()
    expected = gate.grad**2
    scorer = TaylorFOBNImportance(momentum=0).attach(model)
    scorer.accumulate()
    import torch_pruning as tp

    graph = tp.DependencyGraph().build_dependency(model, example_inputs=train_set.images[:2])
    group = graph.get_pruning_group(
        model.features[1].conv1, tp.prune_conv_out_channels, list(range(bn.num_features))
    )
    torch.testing.assert_close(scorer(group), expected, rtol=1e-4, atol=1e-12)


def test_coupled_residual_channels_are_scored_as_the_square_of_their_summed_gates(digits):
    train_set, _ = digits
    torch.manual_seed(0)
    model, head = mini_resnet(width=0.5), MarginHead(64, 3)
    _backward(model, head, train_set)
    scorer = TaylorFOBNImportance(momentum=0).attach(model)
    scorer.accumulate()
    import torch_pruning as tp

    graph = tp.DependencyGraph().build_dependency(model, example_inputs=train_set.images[:2])
    stem_bn = model.features[0][1]
    group = graph.get_pruning_group(
        model.features[0][0], tp.prune_conv_out_channels, list(range(stem_bn.num_features))
    )
    bns = {
        id(dep.target.module): dep.target.module
        for dep, _ in group
        if isinstance(dep.target.module, nn.BatchNorm2d)
    }
    assert len(bns) >= 3  # stem + both blocks of the first stage share these channels
    summed = sum(m.weight * m.weight.grad + m.bias * m.bias.grad for m in bns.values())
    torch.testing.assert_close(scorer(group), summed.detach() ** 2, rtol=1e-4, atol=1e-12)


def test_activation_form_is_l2_normalised_per_layer(digits):
    train_set, _ = digits
    model, head = mini_mobilenetv2(width=0.5), MarginHead(64, 3)
    scorer = TaylorActivationImportance().attach(model)
    _backward(model, head, train_set)
    scorer.accumulate()
    bn = model.features[0][1]
    assert scorer.layer_scores(bn).norm().item() == pytest.approx(1.0, rel=1e-5)
    scorer.detach()


@pytest.mark.parametrize("builder", [mini_mobilenetv2, mini_resnet])
@pytest.mark.parametrize("criterion", ["taylor", "taylor2017"])
def test_pruning_removes_filters_physically_and_matches_masking(digits, builder, criterion):
    train_set, test_set = digits
    torch.manual_seed(0)
    model, head = builder(width=0.5), MarginHead(64, 3)
    result = prune(
        model,
        head,
        train_set,
        test_set,
        make_importance(criterion),
        Schedule(0.4, "filters", **TINY),
        latency_batch=4,
    )
    assert result.filters_removed >= 0.4  # the target is a floor: top-up steps close any gap
    assert result.after.params < result.before.params
    assert result.after.macs < result.before.macs
    assert result.mask_max_diff is not None and result.mask_max_diff <= 1e-5
    stages = [m.stage for m in result.curve]
    pruning_steps = (len(stages) - 2) // 2
    assert pruning_steps >= 2
    assert stages == ["start", *["pruned", "finetuned"] * pruning_steps, "final"]
    assert model(test_set.images[:4]).shape == (4, 64)
    assert any(c.width_after < c.width_before for c in result.layers)


def test_equal_params_schedule_lands_near_its_target(digits):
    train_set, test_set = digits
    torch.manual_seed(0)
    model, head = mini_mobilenetv2(width=0.5), MarginHead(64, 3)
    result = prune(
        model,
        head,
        train_set,
        test_set,
        make_importance("random"),
        Schedule(0.5, "params", **TINY),
        latency_batch=4,
    )
    assert 0.5 <= 1 - result.after.params / result.before.params <= 0.6


def test_any_user_module_without_batchnorm_can_be_pruned(digits):
    train_set, test_set = digits
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 16, 3, 2, 1),
        nn.ReLU(),
        nn.Conv2d(16, 16, 3, 2, 1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(16, 8),
    )
    head = MarginHead(8, 3)
    result = prune(
        model,
        head,
        train_set,
        test_set,
        make_importance("taylor"),
        Schedule(0.3, "channels", **TINY),
        latency_batch=4,
    )
    assert model[0].out_channels < 16 and model[-1].out_features == 8
    assert result.mask_max_diff <= 1e-5


def test_training_learns_identities_and_verification_scores_pairs(digits):
    train_set, test_set = digits
    torch.manual_seed(0)
    model, head = mini_resnet(width=0.5), MarginHead(64, 3)
    losses = train(model, head, train_set, TrainConfig(epochs=3, batch_size=32))
    assert losses[-1] < losses[0]
    perfect = verification(torch.eye(3)[test_set.labels], test_set.labels)
    assert perfect.eer == 0 and perfect.tar_at_far[1e-2] == 1


def test_oracle_check_correlates_scores_with_loss_change(digits):
    train_set, _ = digits
    torch.manual_seed(0)
    model, head = mini_resnet(width=0.5), MarginHead(64, 3)
    train(model, head, train_set, TrainConfig(epochs=2, batch_size=32))
    check = oracle_check(model, head, train_set, n_channels=20, n_batches=1, batch_size=64)
    assert len(check.taylor) == 20 and -1 <= check.spearman <= 1


def test_image_folder_loads_identities(tmp_path):
    from PIL import Image

    for who in ("ann", "bob"):
        (tmp_path / who).mkdir()
        for i in range(2):
            Image.new("RGB", (40, 30), (i * 100, 50, 50)).save(tmp_path / who / f"{i}.png")
    (tmp_path / "solo").mkdir()
    Image.new("RGB", (40, 30)).save(tmp_path / "solo" / "0.png")
    data = load_image_folder(tmp_path, size=16)
    assert data.images.shape == (4, 3, 16, 16) and data.names == ["ann", "bob"]


def test_bad_inputs_raise_errors_that_name_the_argument(tmp_path):
    with pytest.raises(ValueError, match="criterion"):
        make_importance("magic")
    with pytest.raises(ValueError, match="target"):
        Schedule(1.5)
    with pytest.raises(ValueError, match="unit"):
        Schedule(0.5, "bytes")
    with pytest.raises(ValueError, match="backbone"):
        build_backbone("vgg", 1)
    with pytest.raises(ValueError, match="kind"):
        MarginHead(8, 3, kind="sphereface")
    with pytest.raises(ValueError, match="NaN"):
        IdentitySet(torch.full((2, 1, 8, 8), float("nan")), torch.zeros(2, dtype=torch.long), [])
    with pytest.raises(ValueError, match="images"):
        IdentitySet(torch.zeros(2, 8, 8), torch.zeros(2, dtype=torch.long), [])
    with pytest.raises(FileNotFoundError, match="root"):
        load_image_folder(tmp_path / "missing")
    with pytest.raises(ValueError, match="embeddings"):
        verification(torch.zeros(3, 2), torch.zeros(4, dtype=torch.long))
    with pytest.raises(RuntimeError, match="accumulate"):
        TaylorFOBNImportance()(None)
    with pytest.raises(RuntimeError, match="attach"):
        TaylorFOBNImportance().accumulate()


def test_readme_example_runs_at_a_smaller_scale(monkeypatch):
    """The README's example as written, with the data, epochs and schedule shrunk for a test."""
    from pathlib import Path

    import methods.pruning as pruning

    real_digits, real_config, real_schedule = (
        pruning.digits_identities,
        pruning.TrainConfig,
        pruning.Schedule,
    )

    def small_digits(identities=(0, 1, 2, 3, 4, 5, 6)):
        data = real_digits(identities, size=16)
        return data.subset(np.arange(0, len(data), 4))

    monkeypatch.setattr(pruning, "digits_identities", small_digits)
    monkeypatch.setattr(pruning, "TrainConfig", lambda **kw: real_config(**{**kw, "epochs": 1}))
    monkeypatch.setattr(pruning, "Schedule", lambda **kw: real_schedule(**kw, **TINY))
    readme = Path(__file__).resolve().parent.parent / "methods" / "pruning" / "README.md"
    code = readme.read_text().split("```python\n", 1)[1].split("```", 1)[0]
    scope: dict = {}
    exec(compile(code, "methods/pruning/README.md", "exec"), scope)
    assert scope["result"].filters_removed >= 0.5
    assert scope["result"].after.params < scope["result"].before.params
