"""Named hook points on plain torch forward hooks: embed, attn_L, mlp_L, resid_L of a causal LM.

A hook point names a module whose output (or first output, for attention) is the activation:

    points = hook_points(model)            # {"embed": ..., "attn_0": ..., "resid_0": ...}
    with edit_outputs(model, {"resid_3": lambda x: x * 0}):
        logits = model(input_ids).logits

Layouts: llama-family (SmolLM2, Llama, Mistral, Qwen2), GPT-NeoX (Pythia) and Gemma-2, whose
attention and MLP outputs are read after their post-norms (what is added to the residual).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch
from torch import nn

Edit = Callable[[torch.Tensor], torch.Tensor]


def _layout(model: nn.Module) -> tuple[nn.Module, nn.Module, str, str, str]:
    """(embedding module, layer list, attention attr, mlp attr, family) of a known layout."""
    inner = getattr(model, "model", None)
    if inner is not None and hasattr(inner, "layers") and hasattr(inner, "embed_tokens"):
        layers = inner.layers
        if len(layers) and hasattr(layers[0], "post_feedforward_layernorm"):
            # Gemma-2: attn and MLP outputs pass a post-norm before they join the residual.
            return (
                inner.embed_tokens,
                layers,
                "post_attention_layernorm",
                "post_feedforward_layernorm",
                "gemma2",
            )
        return inner.embed_tokens, layers, "self_attn", "mlp", "llama"
    neox = getattr(model, "gpt_neox", None)
    if neox is not None:
        return neox.embed_in, neox.layers, "attention", "mlp", "gpt_neox"
    if hasattr(model, "layers") and hasattr(model, "embed"):
        # The small transformers built in this package's tests and examples.
        return model.embed, model.layers, "attn", "mlp", "tiny"
    raise ValueError(
        f"model of type {type(model).__name__} has no known layout: expected a HF llama-family, "
        "GPT-NeoX or Gemma-2 causal LM (model.model.layers / model.gpt_neox.layers)"
    )


def hook_points(model: nn.Module) -> dict[str, nn.Module]:
    """Every named hook point of `model`, embedding first, then attn/mlp/resid per layer."""
    embed, layers, attn, mlp, _ = _layout(model)
    points: dict[str, nn.Module] = {"embed": embed}
    for i, layer in enumerate(layers):
        points[f"attn_{i}"] = getattr(layer, attn)
        points[f"mlp_{i}"] = getattr(layer, mlp)
        points[f"resid_{i}"] = layer
    return points


def n_layers(model: nn.Module) -> int:
    return len(_layout(model)[1])


def point_order(name: str) -> tuple[int, int]:
    """Sort key: the order in which hook points run in a forward pass."""
    if name == "embed":
        return (-1, 0)
    kind, _, layer = name.rpartition("_")
    order = {"attn": 0, "mlp": 1, "resid": 2}
    if kind not in order or not layer.isdigit():
        raise ValueError(f"hook point {name!r} is not 'embed' or attn_L / mlp_L / resid_L")
    return (int(layer), order[kind])


def _replace_output(edit: Edit) -> Callable:
    def hook(module: nn.Module, args: tuple, output):
        if isinstance(output, tuple):
            return (edit(output[0]), *output[1:])
        return edit(output)

    return hook


@contextlib.contextmanager
def edit_outputs(model: nn.Module, edits: dict[str, Edit]) -> Iterator[None]:
    """Replace the activation at each named hook point by `edit(activation)` inside the block."""
    points = hook_points(model)
    unknown = sorted(set(edits) - set(points))
    if unknown:
        raise KeyError(
            f"edits name unknown hook points {unknown}; this model has e.g. "
            f"{list(points)[:4]} ... (embed, attn_L, mlp_L, resid_L for L < {n_layers(model)})"
        )
    handles = [
        points[name].register_forward_hook(_replace_output(fn)) for name, fn in edits.items()
    ]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def record(
    model: nn.Module, names: list[str], input_ids: torch.Tensor, stop: bool = False
) -> dict[str, torch.Tensor]:
    """Activations at `names` for `input_ids` (no grad); `stop` ends the pass after the last one."""
    store: dict[str, torch.Tensor] = {}
    last = max(names, key=point_order) if names else None

    class _Stop(Exception):
        pass

    def keep(name: str) -> Edit:
        def fn(x: torch.Tensor) -> torch.Tensor:
            store[name] = x.detach()
            if stop and name == last:
                raise _Stop
            return x

        return fn

    edits = {n: keep(n) for n in names}
    with torch.no_grad(), edit_outputs(model, edits), contextlib.suppress(_Stop):
        model(input_ids)
    return store


def logits_of(model: nn.Module, input_ids: torch.Tensor) -> torch.Tensor:
    """Logits (batch, pos, vocab) from a HF model or a plain module returning a tensor."""
    out = model(input_ids)
    return out if isinstance(out, torch.Tensor) else out.logits
