"""ESPP library: LIF against snnTorch, the rule (locality, sign, memory), data, readouts."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from methods.espp import (
    ESPP,
    WIRINGS,
    BPTTNetwork,
    ESPPConfig,
    FiringRateWarning,
    SpikeDataset,
    SpikingNetwork,
    check_rates,
    digits_spikes,
    echo_of,
    few_shot_readout,
    latency,
    layer_report,
    lif_step,
    linear_readout,
    load_spike_file,
    offline_layer_update,
    pair_stream,
    poisson_rate,
    timing_task,
    train_bptt,
    train_espp,
)

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def small_digits() -> tuple[SpikeDataset, SpikeDataset]:
    data = digits_spikes(n_steps=12, seed=0)
    keep = np.random.default_rng(0).permutation(len(data))[:500]
    return data.subset(keep).split(0.3, seed=0)


# LIF semantics


def test_lif_step_equals_snntorch_leaky_on_random_input():
    import snntorch as snn

    torch.manual_seed(0)
    leaky = snn.Leaky(beta=0.9)
    currents = torch.randn(50, 8, 16) * 0.8 + 0.3
    mem_ref = leaky.init_leaky()
    mem = torch.zeros(8, 16)
    for t in range(50):
        spk_ref, mem_ref = leaky(currents[t], mem_ref)
        spk, mem = lif_step(currents[t], mem, 0.9)
        assert torch.equal(spk, spk_ref)
        assert torch.allclose(mem, mem_ref, atol=1e-6)
    assert 0 < float(spk_ref.mean()) < 1  # the test exercised both spikes and silence


def test_network_spikes_equal_the_snntorch_bptt_network_with_the_same_weights():
    net = SpikingNetwork(10, [7, 5], betas=[0.8, 0.95], seed=3)
    model = BPTTNetwork(10, [7, 5], 3, betas=[0.8, 0.95], init_weights=net.weights)
    x = (torch.rand(30, 4, 10) < 0.3).float()
    _, counts = model(x)
    ours = [s.sum(0) for s in net.run(x)]
    for a, b in zip(ours, counts, strict=True):
        assert torch.equal(a, b.detach())


@pytest.mark.parametrize("wiring", WIRINGS)
def test_every_wiring_runs_with_the_fan_in_it_declares(wiring):
    net = SpikingNetwork(6, [4, 3, 2], wiring=wiring, seed=0)
    spikes = net.run((torch.rand(5, 2, 6) < 0.5).float())
    assert [tuple(s.shape) for s in spikes] == [(5, 2, 4), (5, 2, 3), (5, 2, 2)]
    expected = {
        "none": [6, 4, 3],
        "stacked": [10, 7, 5],
        "full": [15, 15, 15],
        "dt": [8, 4, 3],
        "dense": [6, 10, 13],
    }[wiring]
    assert [w.shape[1] for w in net.weights] == expected


def test_saved_network_loads_with_the_same_weights(tmp_path):
    net = SpikingNetwork(5, [4, 3], betas=[0.9, 0.95], wiring="dense", seed=1)
    loaded = SpikingNetwork.load(net.save(tmp_path / "net.pt"))
    assert loaded.widths == [4, 3] and loaded.betas == [0.9, 0.95] and loaded.wiring == "dense"
    assert all(torch.equal(a, b) for a, b in zip(net.weights, loaded.weights, strict=True))


# The rule


def _primed(net: SpikingNetwork, x: torch.Tensor, config: ESPPConfig | None = None) -> ESPP:
    rule = ESPP(net, config or ESPPConfig())
    rule.train_sample(x, 0)  # the first sample only sets the echo
    return rule


def test_first_sample_of_a_stream_makes_no_update():
    net = SpikingNetwork(8, [6], seed=0)
    before = net.weights[0].clone()
    rule = ESPP(net, ESPPConfig())
    rule.train_sample((torch.rand(10, 3, 8) < 0.4).float(), 0)
    assert torch.equal(net.weights[0], before)
    assert rule.echoes is not None


def test_layer_update_is_unchanged_when_the_next_layer_changes():
    torch.manual_seed(0)
    x_prev, x = ((torch.rand(15, 4, 12) < 0.4).float() for _ in range(2))
    updates = []
    for scale in (1.0, -2.0):
        net = SpikingNetwork(12, [10, 8], seed=0)
        net.weights[1] = net.weights[1] * scale
        rule = _primed(net, x_prev)
        ups, _ = rule.sample_updates(x, 1)
        updates.append(ups)
    assert torch.equal(updates[0][0].dW, updates[1][0].dW)
    assert not torch.equal(updates[0][1].dW, updates[1][1].dW)


def test_online_layer_weights_are_unchanged_when_the_next_layer_changes():
    torch.manual_seed(1)
    xs = [(torch.rand(15, 4, 12) < 0.4).float() for _ in range(4)]
    first = []
    for scale in (1.0, -2.0):
        net = SpikingNetwork(12, [10, 8], seed=0)
        net.weights[1] = net.weights[1] * scale
        rule = ESPP(net, ESPPConfig(online=True, lr=0.05))
        for x, y in zip(xs, (0, 1, -1, 1), strict=True):
            rule.train_sample(x, y)
        first.append(net.weights[0].clone())
    start = SpikingNetwork(12, [10, 8], seed=0).weights[0]
    assert not torch.equal(first[0], start)  # it learned
    assert torch.equal(first[0], first[1])


def test_update_sign_on_a_one_step_toy():
    """One input spike, one neuron the echo expects: +1 strengthens the synapse, -1 weakens it."""
    echo = torch.ones(1, 1)
    pre = torch.ones(1, 1, 1)
    mems = torch.full((1, 1, 1), 0.8)
    silent, firing = torch.zeros(1, 1, 1), torch.ones(1, 1, 1)
    pos = offline_layer_update(echo, 1, silent, mems, pre, 0.9, rate_pos=0.5, rate_neg=0.2)
    neg = offline_layer_update(echo, -1, firing, mems, pre, 0.9, rate_pos=0.5, rate_neg=0.2)
    assert pos.gate.item() and float(pos.dW) > 0
    assert neg.gate.item() and float(neg.dW) < 0
    # Hinges satisfied: a firing neuron on +1 and a silent one on -1 learn nothing.
    done_pos = offline_layer_update(echo, 1, firing, mems, pre, 0.9, 0.5, 0.2)
    done_neg = offline_layer_update(echo, -1, silent, mems, pre, 0.9, 0.5, 0.2)
    assert float(done_pos.dW) == 0 and float(done_neg.dW) == 0


def test_zero_echo_is_safe_and_makes_no_update():
    assert torch.equal(echo_of(torch.zeros(2, 5)), torch.zeros(2, 5))
    net = SpikingNetwork(8, [6, 4], seed=0)
    net.weights = [torch.zeros_like(w) for w in net.weights]  # silent: every echo is zero
    for online in (False, True):
        rule = ESPP(net, ESPPConfig(online=online))
        for y in (0, 1, -1):
            rule.train_sample((torch.rand(10, 3, 8) < 0.5).float(), y)
        assert all(torch.isfinite(e).all() and not e.any() for e in rule.echoes)
        assert all(not w.any() for w in net.weights)


class _Shapes(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.shapes: list[tuple[int, ...]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for o in out if isinstance(out, tuple | list) else (out,):
            if isinstance(o, torch.Tensor):
                self.shapes.append(tuple(o.shape))
        return out


def test_online_variant_allocates_nothing_of_length_t():
    steps = 37  # no other size in this test is 37
    net = SpikingNetwork(11, [9, 7], seed=0)
    xs = [(torch.rand(steps, 5, 11) < 0.4).float() for _ in range(3)]
    rule = ESPP(net, ESPPConfig(online=True))
    with _Shapes() as online:
        for x, y in zip(xs, (0, 1, -1), strict=True):
            rule.train_sample(x, y)
    assert online.shapes and not any(steps in s for s in online.shapes)
    with _Shapes() as offline:  # the check can fail: the offline rule does buffer T steps
        ESPP(SpikingNetwork(11, [9, 7], seed=0)).train_sample(xs[0], 0)
    assert any(steps in s for s in offline.shapes)


def test_offline_espp_beats_the_random_network_on_small_digits(small_digits):
    train, test = small_digits
    net = SpikingNetwork(64, [24, 24], seed=0)
    random = layer_report(net, train, test)
    trained = net.clone()
    train_espp(trained, train, ESPPConfig(), epochs=6, batch_size=16, seed=0)
    espp = layer_report(trained, train, test)
    assert espp.accuracy[1] > random.accuracy[1]
    assert all(0.02 <= r <= 0.5 for r in espp.rates)


# The stream, data and readouts


def test_pair_stream_alternates_same_and_other_class():
    labels = np.repeat(np.arange(4), 10)
    steps = list(pair_stream(labels, 9, 6, np.random.default_rng(0)))
    assert [y for _, y in steps] == [0, 1, -1, 1, -1, 1, -1, 1, -1]
    for (prev, _), (cur, y) in zip(steps, steps[1:], strict=False):
        same = labels[prev] == labels[cur]
        assert same.all() if y == 1 else not same.any()


def test_timing_task_counts_carry_no_class():
    data = timing_task(n_samples=1000, seed=0)
    train, test = data.split(0.3, seed=0)
    assert linear_readout(train.x.sum(0), train.labels, test.x.sum(0), test.labels) < 0.2
    per_class = [float(data.x[:, data.labels == c].sum(0).mean()) for c in range(10)]
    assert max(per_class) - min(per_class) < 0.05


def test_encoders_make_the_spikes_they_promise():
    values = np.array([[0.0, 0.5, 1.0]])
    lat = latency(values, 11)
    assert lat.sum(0).tolist() == [[0.0, 1.0, 1.0]]
    assert lat[0, 0, 2] == 1 and lat[5, 0, 1] == 1
    rates = poisson_rate(np.full((200, 2), 0.5), 50, gain=0.8, seed=0).mean()
    assert abs(float(rates) - 0.4) < 0.02


def test_spike_files_load_in_dense_and_event_layouts(tmp_path):
    dense = np.zeros((3, 4, 2), dtype=np.float32)
    dense[1, 2, 1] = 1
    np.savez(tmp_path / "dense.npz", spikes=dense, labels=np.array([0, 1, 0]))
    data = load_spike_file(tmp_path / "dense.npz")
    assert tuple(data.x.shape) == (4, 3, 2) and data.x[2, 1, 1] == 1
    np.savez(
        tmp_path / "events.npz",
        sample=np.array([0, 1]),
        time=np.array([0.0, 1.0]),
        channel=np.array([2, 0]),
        labels=np.array([1, 0]),
    )
    events = load_spike_file(tmp_path / "events.npz", n_steps=5)
    assert tuple(events.x.shape) == (5, 2, 3)
    assert events.x[0, 0, 2] == 1 and events.x[4, 1, 0] == 1


def test_readouts_separate_separable_counts():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 40)
    x = rng.poisson(2.0, size=(120, 6)).astype(float)
    x[np.arange(120), y] += 8
    assert linear_readout(x[::2], y[::2], x[1::2], y[1::2], "logistic") > 0.9
    assert linear_readout(x[::2], y[::2], x[1::2], y[1::2], "ridge") > 0.9
    assert few_shot_readout(x[::2], y[::2], x[1::2], y[1::2], shots=5) > 0.9


def test_bptt_reference_learns_small_digits(small_digits):
    train, test = small_digits
    model = train_bptt(train, [24], epochs=6, lr=5e-3, seed=0)
    accuracy, counts = model.evaluate(test)
    assert accuracy > 0.6
    assert counts[0].shape == (len(test), 24)


def test_rates_outside_the_healthy_range_warn():
    with pytest.warns(FiringRateWarning, match="layer 2 fires at 0.001"):
        messages = check_rates([0.1, 0.001])
    assert len(messages) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_rates([0.1, 0.3]) == []


# Bad input


def test_network_rejects_wrong_shapes_and_nan():
    net = SpikingNetwork(8, [4])
    with pytest.raises(ValueError, match=r"x must be a \(time, batch, 8\) tensor"):
        net.run(torch.zeros(10, 8))
    with pytest.raises(ValueError, match=r"x must be a \(time, batch, 8\)"):
        net.run(torch.zeros(10, 2, 7))
    with pytest.raises(ValueError, match="x contains NaN"):
        net.run(torch.full((3, 2, 8), float("nan")))
    with pytest.raises(ValueError, match="x is empty"):
        net.run(torch.zeros(0, 2, 8))


def test_network_rejects_unknown_wiring_and_bad_betas():
    with pytest.raises(ValueError, match="wiring must be one of"):
        SpikingNetwork(8, [4], wiring="ring")
    with pytest.raises(ValueError, match="betas must be one value or one per layer"):
        SpikingNetwork(8, [4, 4], betas=[0.9])
    with pytest.raises(ValueError, match="widths must be a non-empty list"):
        SpikingNetwork(8, [])


def test_rule_rejects_bad_pair_labels_and_changed_batch():
    net = SpikingNetwork(8, [4])
    rule = ESPP(net)
    with pytest.raises(ValueError, match="y must be"):
        rule.train_sample(torch.zeros(5, 2, 8), 2)
    rule.train_sample(torch.zeros(5, 2, 8), 0)
    with pytest.raises(ValueError, match="call reset_echo"):
        rule.train_sample(torch.zeros(5, 3, 8), 1)
    with pytest.raises(ValueError, match="lr must be > 0"):
        ESPPConfig(lr=0)
    with pytest.raises(ValueError, match="rate_neg must be >= 0"):
        ESPPConfig(rate_neg=float("nan"))


def test_data_inputs_are_checked():
    with pytest.raises(ValueError, match="labels must hold at least 2 classes"):
        next(pair_stream(np.zeros(5), 3, 2, np.random.default_rng(0)))
    with pytest.raises(ValueError, match="values must lie in"):
        poisson_rate(np.array([[2.0]]), 5)
    with pytest.raises(ValueError, match="values contain NaN"):
        latency(np.array([[np.nan]]), 5)
    with pytest.raises(ValueError, match="encoding must be one of"):
        digits_spikes(encoding="delta")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_spike_file("/nonexistent/shd.npz")
    with pytest.raises(ValueError, match="labels must have shape"):
        SpikeDataset(torch.zeros(4, 3, 2), np.zeros(2))
    with pytest.raises(ValueError, match="data has 64 channels but the network expects 8"):
        train_espp(SpikingNetwork(8, [4]), digits_spikes(n_steps=2), epochs=1)


def test_readouts_reject_nan_and_unknown_kind():
    x = np.ones((4, 2))
    with pytest.raises(ValueError, match="train_x contains NaN"):
        linear_readout(np.full((4, 2), np.nan), np.arange(4), x, np.arange(4))
    with pytest.raises(ValueError, match="kind must be one of"):
        linear_readout(x, np.array([0, 1, 0, 1]), x, np.array([0, 1, 0, 1]), "svm")
    with pytest.raises(ValueError, match="test_x must be a non-empty"):
        linear_readout(x, np.arange(4), np.ones((0, 2)), np.arange(0))
