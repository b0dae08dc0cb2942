"""The attention library: unit bars for every module, maps, registry, catalog, bad inputs."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from methods.attention import available, build_attention, collect_maps, entry
from methods.attention.catalog import TECHNIQUES, catalog
from methods.attention.checks import (
    invariance_error,
    permute_positions,
    perturb,
    shape_and_gradients,
)
from methods.attention.registry import CATEGORIES

MODULES = available()
INVARIANT = [n for n in MODULES if entry(n).invariance]


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("name", MODULES)
def test_module_keeps_shape_and_has_finite_gradients(name):
    shapes_ok, finite = shape_and_gradients(name, channels=16, sizes=(7, 16, 33))
    assert shapes_ok
    assert finite


@pytest.mark.parametrize("name", INVARIANT)
def test_module_meets_its_stated_invariance(name):
    assert invariance_error(name) <= 1e-5


def test_invariance_check_catches_a_module_that_uses_positions():
    torch.manual_seed(0)
    module = perturb(build_attention("mhsa_pos", 16).double().eval())
    x = torch.randn(2, 16, 9, 9, dtype=torch.float64)
    perm = torch.randperm(81)
    with torch.no_grad():
        moved = module(permute_positions(x, perm)) - permute_positions(module(x), perm)
    assert float(moved.abs().max()) > 1e-3


@pytest.mark.parametrize("name", MODULES)
def test_module_returns_a_map_of_its_kind(name):
    torch.manual_seed(0)
    module = build_attention(name, 16).eval()
    x = torch.randn(2, 16, 8, 8)
    y, amap = module(x, return_attention=True)
    assert torch.isfinite(amap).all()
    spatial = module.spatial_map(amap, (8, 8))
    if module.map_kind == "channel":
        assert spatial is None and amap.shape[0] == 2
    else:
        assert spatial.shape == (2, 8, 8)
    assert torch.equal(module(x), y)  # asking for the map does not change the output


@pytest.mark.parametrize("name", ["uncertainty", "bayesian"])
def test_stochastic_module_samples_in_training_and_is_deterministic_in_eval(name):
    torch.manual_seed(0)
    module = perturb(build_attention(name, 16))
    x = torch.randn(2, 16, 6, 6)
    assert not torch.allclose(module.train()(x), module(x))
    assert torch.equal(module.eval()(x), module(x))


def test_collect_maps_keeps_each_modules_map_and_then_stops():
    model = torch.nn.Sequential(build_attention("cbam", 16), build_attention("se", 16))
    with collect_maps(model) as mods:
        model(torch.randn(3, 16, 5, 5))
        assert mods["0"].last_map.shape == (3, 5, 5)
        assert mods["1"].last_map.shape == (3, 16)
    assert not mods["0"].keep_map


# timm's layers are used as they are; these check that the maps read through hooks are the
# weights timm actually applied (so a map is never a re-implementation that could drift).


def _perturbed(name, channels=16):
    torch.manual_seed(1)
    return perturb(build_attention(name, channels)).eval()


@pytest.mark.parametrize("name", ["se", "ese", "eca", "ge"])
def test_timm_channel_gate_map_is_the_gate_timm_applied(name):
    module = _perturbed(name)
    x = torch.randn(2, 16, 7, 7)
    y, gate = module(x, return_attention=True)
    torch.testing.assert_close(y, x * gate[:, :, None, None], atol=1e-6, rtol=1e-6)


def test_timm_spatial_map_is_the_gate_timm_applied():
    module = _perturbed("spatial")
    x = torch.randn(2, 16, 7, 7)
    y, gate = module(x, return_attention=True)
    torch.testing.assert_close(y, x * gate[:, None], atol=1e-6, rtol=1e-6)


def test_timm_nonlocal_map_rebuilds_timm_output():
    module = _perturbed("nonlocal")
    inner = module.inner
    x = torch.randn(2, 16, 6, 6)
    with torch.no_grad():
        y, att = module(x, return_attention=True)
        g = inner.g(x).flatten(2).transpose(1, 2)
        z = (att @ g).transpose(1, 2).reshape(2, -1, 6, 6)
        rebuilt = inner.norm(inner.z(z)) + x
    torch.testing.assert_close(y, rebuilt, atol=1e-5, rtol=1e-5)


def test_timm_global_context_map_rebuilds_timm_output():
    module = _perturbed("gc")
    inner = module.inner
    x = torch.randn(2, 16, 6, 6)
    with torch.no_grad():
        y, att = module(x, return_attention=True)
        context = torch.einsum("bchw,bhw->bc", x, att)[:, :, None, None]
        rebuilt = x * inner.gate(inner.mlp_scale(context))
    torch.testing.assert_close(y, rebuilt, atol=1e-5, rtol=1e-5)


def test_timm_modules_run_timms_own_classes():
    from timm.layers.cbam import CbamModule
    from timm.layers.non_local_attn import NonLocalAttn
    from timm.layers.squeeze_excite import SEModule

    assert isinstance(build_attention("se", 16).inner, SEModule)
    assert isinstance(build_attention("cbam", 16).inner, CbamModule)
    assert isinstance(build_attention("nonlocal", 16).inner, NonLocalAttn)
    assert entry("se").source == "timm" and entry("mhsa").source == "ponder"


def test_residual_modules_start_as_the_identity():
    x = torch.randn(2, 16, 6, 6)
    for name in ("mhsa", "nonlocal", "criss_cross", "danet", "swin", "double", "slot"):
        torch.testing.assert_close(build_attention(name, 16).eval()(x), x)


def test_swin_shifted_windows_handle_sizes_that_are_not_a_multiple_of_the_window():
    module = perturb(build_attention("swin", 16, window=4, shift=True)).eval()
    y, received = module(torch.randn(2, 16, 9, 10), return_attention=True)
    assert y.shape == (2, 16, 9, 10) and received.shape == (2, 9, 10)
    assert torch.isfinite(y).all()


def test_registry_has_at_least_30_modules_over_most_categories():
    assert len(MODULES) >= 30
    covered = {entry(n).category for n in MODULES}
    assert covered == set(CATEGORIES)


def test_catalog_lists_about_50_techniques_and_matches_the_registry():
    assert len(TECHNIQUES) >= 50
    implemented = {t.implemented for t in TECHNIQUES if t.implemented}
    assert implemented == set(MODULES)
    assert all(t.category in CATEGORIES for t in TECHNIQUES)
    assert all(t.note for t in TECHNIQUES if t.implemented is None)  # every gap says why
    assert {t.name for t in catalog("clustering")} >= {"EM attention (EMANet)"}
    assert all(t.implemented for t in catalog(implemented=True))
    assert [t.implemented for t in catalog(query="criss")] == ["criss_cross"]


def test_unknown_module_name_suggests_close_names():
    with pytest.raises(KeyError, match="'cbma'.*cbam"):
        build_attention("cbma", 16)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: build_attention("se", 0), ValueError, "channels must be a positive int"),
        (lambda: build_attention("mhsa", 18, heads=4), ValueError, "heads must divide"),
        (lambda: build_attention("sk", 15), ValueError, "channels must be even"),
        (lambda: build_attention("sasa", 16, kernel_size=4), ValueError, "kernel_size"),
        (lambda: build_attention("se", 16)(torch.randn(2, 8, 4, 4)), ValueError, "8 channels"),
        (lambda: build_attention("se", 16)(torch.randn(16, 4, 4)), ValueError, r"\(B, C, H, W\)"),
        (lambda: build_attention("se", 16)([1, 2]), TypeError, "torch.Tensor"),
        (lambda: available("spacial"), ValueError, "category must be one of"),
        (lambda: catalog("spacial"), ValueError, "category must be one of"),
    ],
)
def test_bad_input_names_the_argument(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_modules_propagate_nan_like_any_torch_layer():
    module = build_attention("se", 16).eval()
    x = torch.randn(1, 16, 4, 4)
    x[0, 0, 0, 0] = float("nan")
    assert torch.isnan(module(x)).any()


def test_fca_lowest_frequency_group_squeezes_like_the_mean():
    module = build_attention("fca", 16, frequencies=1).eval()
    x = torch.randn(2, 16, 5, 7)
    basis = module.basis(5, 7, x)
    torch.testing.assert_close((x * basis).sum(dim=(2, 3)), x.mean(dim=(2, 3)))


def test_criss_cross_reaches_every_position_in_two_passes():
    module = perturb(build_attention("criss_cross", 16, recurrence=2)).eval()
    x = torch.zeros(1, 16, 6, 6, requires_grad=True)
    x2 = x + torch.randn(1, 16, 6, 6)
    module(x2)[0, :, 0, 0].sum().backward()
    assert (x.grad.abs().sum(dim=1)[0] > 0).all()  # (0, 0) sees (5, 5), off its row and column


def test_sasa_only_looks_inside_its_window():
    module = perturb(build_attention("sasa", 16, kernel_size=3)).eval()
    x = torch.randn(1, 16, 8, 8, requires_grad=True)
    module(x)[0, :, 0, 0].sum().backward()
    reach = x.grad.abs().sum(dim=1)[0] > 0
    assert reach[:2, :2].all() and not reach[3:, :].any() and not reach[:, 3:].any()


def test_gain_mining_erases_the_attended_region():
    module = perturb(build_attention("gain", 16)).eval()
    x = torch.randn(2, 16, 6, 6).abs()
    y, mask = module(x, return_attention=True)
    module.mining = True
    erased = module(x)
    torch.testing.assert_close(erased, x * (1 - mask[:, None]))
    assert F.mse_loss(erased, x) > 0
