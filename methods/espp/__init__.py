"""EchoSpike Predictive Plasticity (ESPP): online, local, self-supervised learning for SNNs.

    from methods.espp import ESPPConfig, SpikingNetwork, digits_spikes, train_espp

    train, test = digits_spikes(n_steps=20).split(0.3, seed=0)
    net = SpikingNetwork(64, [64, 64], betas=0.9, seed=0)
    train_espp(net, train, ESPPConfig(lr=3e-3), epochs=30)

Graf, Su & Indiveri, arXiv 2405.13976. See README.md for the rule and the benchmark.
"""

from methods.espp.bptt import BPTTNetwork, train_bptt
from methods.espp.data import SpikeDataset, digits_spikes, load_spike_file, timing_task
from methods.espp.encoders import latency, poisson_rate
from methods.espp.event_files import load_nmnist, load_shd, read_nmnist_events
from methods.espp.experiment import Comparison, LayerReport, compare, layer_report
from methods.espp.lif import WIRINGS, SpikingNetwork, arctan_surrogate, lif_step, wiring_sources
from methods.espp.monitor import FiringRateWarning, check_rates
from methods.espp.readout import READOUTS, few_shot_readout, linear_readout
from methods.espp.rule import ESPP, ESPPConfig, LayerUpdate, echo_of, offline_layer_update
from methods.espp.stream import pair_stream
from methods.espp.train import TrainHistory, train_espp

__all__ = [
    "ESPP",
    "READOUTS",
    "WIRINGS",
    "BPTTNetwork",
    "Comparison",
    "ESPPConfig",
    "FiringRateWarning",
    "LayerReport",
    "LayerUpdate",
    "SpikeDataset",
    "SpikingNetwork",
    "TrainHistory",
    "arctan_surrogate",
    "check_rates",
    "compare",
    "digits_spikes",
    "echo_of",
    "few_shot_readout",
    "latency",
    "layer_report",
    "lif_step",
    "linear_readout",
    "load_nmnist",
    "load_shd",
    "load_spike_file",
    "offline_layer_update",
    "pair_stream",
    "poisson_rate",
    "read_nmnist_events",
    "timing_task",
    "train_bptt",
    "train_espp",
    "wiring_sources",
]
