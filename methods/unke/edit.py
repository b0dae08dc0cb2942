"""UnKE's two stages, batch and sequential editing, restore, and the FT-L / FT-all baselines."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from tqdm import tqdm

from methods.unke.data import Edit
from methods.unke.model import (
    Encoded,
    SuffixRunner,
    block_io,
    call_block,
    check_layer,
    decoder_parts,
    encode,
    right_pad,
)

Progress = Callable[[float, str], None]

# Generic openings put before an edit's question to make variants of it (UnkeConfig.lead_ins).
LEAD_INS = (
    "Quick question: ",
    "I would like to know something. ",
    "Hello! ",
    "Please answer this. ",
    "I have been wondering. ",
    "Can you help me? ",
)


@dataclass
class UnkeConfig:
    """UnKE hyperparameters. Defaults are retuned for SmolLM2-135M (see README).

    The reference's 7B settings (z_steps 25, block_steps 50, layer 7) moved nothing at 135M;
    `reference()` returns them for large models.
    """

    layer: int = 7
    # Stage 1: Adam on delta. At lr 0.5 (the reference's) 60 steps left the answer NLL at 1.2
    # on SmolLM2; lr 2.0 reaches the norm bound within ~20 steps and NLL <= 0.5 within 60.
    z_steps: int = 60
    z_lr: float = 2.0
    z_stop_nll: float = 0.5  # stop once the mean answer NLL is this low
    z_max_norm: float = 4.0  # ||delta|| <= z_max_norm * ||h0||
    z_norm_weight: float = 1e-3  # weight of (||delta|| / ||h0||)^2 in the stage-1 loss
    block_steps: int = 80  # stage-2 AdamW steps on the whole block
    block_lr: float = 2e-4
    block_weight_decay: float = 0.01  # not applied to the norms
    # Preservation texts are cut to this many tokens. The chat prompt alone is ~37 tokens, so
    # at 48 only the first ~11 answer tokens were kept fixed and long answers drifted.
    max_preservation_tokens: int = 96
    preservation_weight: float = 1.0  # weight of the preservation MSE against the edits' MSE
    # Extra weight, inside the preservation MSE, on each preservation text's last question
    # token. That is the position every edit changes (the chat template's "assistant\n" token
    # ends every question), so it is where an edit leaks into other questions' answers.
    key_weight: float = 20.0  # 1 is the plain MSE; 20 chosen on dev edits (README)
    # Stage 1 fits one delta to the question and to this many lead-in variants of it (LEAD_INS),
    # and stage 2 writes it at all of them, so the edit depends less on the exact wording.
    lead_ins: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.lead_ins <= len(LEAD_INS):
            raise ValueError(f"lead_ins must be in [0, {len(LEAD_INS)}], got {self.lead_ins}")
        for name in ("z_steps", "block_steps", "max_preservation_tokens"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("z_lr", "z_max_norm", "block_lr", "key_weight"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.preservation_weight < 0:
            raise ValueError(f"preservation_weight must be >= 0, got {self.preservation_weight}")

    @classmethod
    def reference(cls) -> UnkeConfig:
        """The reference code's settings for 7B models (lr 0.5, 25 + 50 steps)."""
        return cls(
            z_steps=25, z_lr=0.5, z_stop_nll=0.0, block_steps=50, max_preservation_tokens=512
        )


@dataclass
class Snapshot:
    """Copies of some parameters, to put a model back the way it was."""

    tensors: dict[str, torch.Tensor]
    model: Any

    @classmethod
    def of(cls, model: Any, names: Iterable[str] | None = None) -> Snapshot:
        params = dict(model.named_parameters())
        chosen = list(params) if names is None else list(names)
        unknown = [n for n in chosen if n not in params]
        if unknown:
            raise ValueError(f"names {unknown[:3]} are not parameters of the model")
        return cls({n: params[n].detach().clone() for n in chosen}, model)

    @torch.no_grad()
    def restore(self) -> None:
        params = dict(self.model.named_parameters())
        for name, value in self.tensors.items():
            params[name].copy_(value)


@dataclass
class EditReport:
    """What one edit call did: stage-1 NLLs, stage-2 fit, seconds, and how to undo it."""

    method: str
    snapshot: Snapshot
    seconds: float
    nll_before: list[float] = field(default_factory=list)
    nll_after: list[float] = field(default_factory=list)
    z_steps_used: list[int] = field(default_factory=list)
    delta_ratio: list[float] = field(default_factory=list)  # ||delta|| / ||h0||
    fit_error: float = float("nan")  # relative error of the block's output at z after stage 2
    fit_error_before: float = float("nan")  # the same before stage 2: ||delta|| / ||z||

    def restore(self) -> None:
        self.snapshot.restore()


def _check_edits(edits: list[Edit], name: str = "edits", allow_empty: bool = False) -> list[Edit]:
    if not edits and not allow_empty:
        raise ValueError(f"{name} must hold at least one Edit")
    for i, edit in enumerate(edits):
        if not isinstance(edit, Edit):
            raise ValueError(f"{name}[{i}] must be an Edit, got {type(edit).__name__}")
    return edits


@dataclass
class Target:
    """Stage 1's result for one edit: the block output z to write at its last question token."""

    z: torch.Tensor
    variant_z: list[torch.Tensor]  # h0 + delta at each lead-in variant's last question token
    nll_before: float  # mean answer NLL, over the question and its variants
    nll_after: float
    steps: int
    delta_ratio: float  # ||delta|| / ||h0||


def compute_target(
    model: Any, enc: Encoded, config: UnkeConfig, variants: Sequence[Encoded] = ()
) -> Target:
    """Stage 1: z = h0 + delta at block `layer`'s last-question output so the model says the answer.

    With `variants` (the question behind other lead-ins, same answer), one delta is fitted to
    all of them, so that it does not depend on the question's exact wording.
    """
    layer = config.layer
    runs = []  # (runner, block outputs from the last question token on, its h0, answer labels)
    for e in (enc, *variants):
        _, h_out = block_io(model, layer, e.prompt + e.answer[:-1])  # (pos, d)
        h_out = h_out.unsqueeze(0)
        q = e.last_prompt
        labels = torch.tensor(e.answer, device=h_out.device)  # predicted from positions q..end
        runs.append(
            (SuffixRunner(model, layer, h_out, q), h_out[:, q:], h_out[0, q].clone(), labels)
        )
    h0_norm = runs[0][2].norm()
    delta = torch.zeros_like(runs[0][2], requires_grad=True)
    optim = torch.optim.Adam([delta], lr=config.z_lr)
    for p in model.parameters():
        p.requires_grad_(False)
    nll_before, nll, steps = float("nan"), float("nan"), 0
    for step in range(config.z_steps + 1):
        losses = []
        for runner, suffix, _, labels in runs:
            shifted = torch.cat([suffix[:, :1] + delta, suffix[:, 1:]], dim=1)
            losses.append(F.cross_entropy(runner(shifted)[0], labels))
        loss_nll = torch.stack(losses).mean()
        nll = float(loss_nll.detach())
        if step == 0:
            nll_before = nll
        if step == config.z_steps or nll <= config.z_stop_nll:
            break
        loss = loss_nll + config.z_norm_weight * (delta.norm() / h0_norm) ** 2
        optim.zero_grad()
        loss.backward()
        optim.step()
        steps += 1
        with torch.no_grad():
            limit = config.z_max_norm * h0_norm
            if delta.norm() > limit:
                delta.mul_(limit / delta.norm())
    delta = delta.detach()
    return Target(
        z=runs[0][2] + delta,
        variant_z=[h0 + delta for _, _, h0, _ in runs[1:]],
        nll_before=nll_before,
        nll_after=nll,
        steps=steps,
        delta_ratio=float(delta.norm() / h0_norm),
    )


def _decay_groups(params: dict[str, torch.nn.Parameter], decay: float) -> list[dict]:
    with_decay = [p for n, p in params.items() if "norm" not in n]
    without = [p for n, p in params.items() if "norm" in n]
    return [{"params": with_decay, "weight_decay": decay}, {"params": without, "weight_decay": 0}]


@dataclass
class EditTarget:
    """One edit for stage 2: its token ids and the block output `z` wanted at `position`."""

    ids: list[int]
    position: int
    z: torch.Tensor


def fit_block(
    model: Any,
    edits: list[EditTarget],
    preservation: list[Encoded],
    config: UnkeConfig,
    progress: Progress | None = None,
) -> tuple[float, float]:
    """Stage 2: train every parameter of block `layer` so each edit's output at its position
    becomes its z, while the block's other outputs (the rest of the edit sequences and the
    preservation texts) stay as they were.

    Returns the mean relative error |out - z| / |z| at the edited positions before and after.
    """
    layer = config.layer
    layers, rotary, _, _ = decoder_parts(model)
    block = layers[layer]
    edit_in, edit_out = [], []
    for edit in edits:
        if not 0 <= edit.position < len(edit.ids):
            raise ValueError(f"position {edit.position} is outside a {len(edit.ids)}-token edit")
        x, y = block_io(model, layer, edit.ids)
        y = y.clone()
        y[edit.position] = edit.z
        edit_in.append(x)
        edit_out.append(y)
    pres_in, pres_out, pres_keys = [], [], []
    for enc in preservation:
        ids = (enc.prompt + enc.answer)[: config.max_preservation_tokens]
        x, y = block_io(model, layer, ids)
        pres_in.append(x)
        pres_out.append(y)
        pres_keys.append(min(enc.last_prompt, len(ids) - 1))
    x_e, m_e = right_pad(edit_in)
    y_e, _ = right_pad(edit_out)
    have_pres = bool(pres_in)
    if have_pres:
        x_p, m_p = right_pad(pres_in)
        y_p, _ = right_pad(pres_out)
        w_p = m_p.float()
        w_p[torch.arange(len(pres_keys)), pres_keys] = config.key_weight
        w_p = w_p / w_p.sum()
    params = dict(block.named_parameters())
    for p in model.parameters():
        p.requires_grad_(False)
    for p in params.values():
        p.requires_grad_(True)
    optim = torch.optim.AdamW(_decay_groups(params, config.block_weight_decay), lr=config.block_lr)
    positions = torch.tensor([e.position for e in edits], device=x_e.device)
    before = _fit_error(block, rotary, x_e, y_e, positions)
    for step in range(config.block_steps):
        # The mean over all real positions is the reference's loss: one changed position per
        # edit among many kept ones, which is what protects the rest of the sequence. (Summing
        # per-edit means instead, so that a batched edit pulls as hard as a single one, scored
        # worse on the first benchmark batch: ROUGE-L recall 0.18 against 0.39.)
        loss = F.mse_loss(call_block(block, rotary, x_e)[m_e], y_e[m_e])
        if have_pres:
            squared = (call_block(block, rotary, x_p) - y_p).pow(2).mean(-1)
            kept = (w_p * squared).sum()  # the plain MSE when key_weight is 1
            loss = loss + config.preservation_weight * kept
        optim.zero_grad()
        loss.backward()
        optim.step()
        if progress is not None and step % 10 == 0:
            progress(
                step / config.block_steps, f"stage 2 step {step}, loss {float(loss.detach()):.4f}"
            )
    for p in params.values():
        p.requires_grad_(False)
    return before, _fit_error(block, rotary, x_e, y_e, positions)


@torch.no_grad()
def _fit_error(
    block: Any, rotary: Any, x: torch.Tensor, y: torch.Tensor, positions: torch.Tensor
) -> float:
    """Mean |block(x) - y| / |y| at each sequence's edited position."""
    out = call_block(block, rotary, x)
    rows = torch.arange(x.shape[0])
    got, want = out[rows, positions], y[rows, positions]
    return float(((got - want).norm(dim=-1) / want.norm(dim=-1)).mean())


def preservation_encodings(tokenizer: Any, pairs: list[dict]) -> list[Encoded]:
    """Chat pairs ({question, answer}) encoded, to keep block l's outputs on them fixed."""
    out = []
    for i, pair in enumerate(pairs):
        if not isinstance(pair, dict) or "question" not in pair or "answer" not in pair:
            raise ValueError(f"preservation[{i}] must be a dict with question and answer")
        out.append(encode(tokenizer, pair["question"], pair["answer"]))
    return out


def unke_edit(
    model: Any,
    tokenizer: Any,
    edits: list[Edit],
    preservation: list[dict],
    config: UnkeConfig | None = None,
    progress: Progress | None = None,
    keep: Sequence[Edit] = (),
) -> EditReport:
    """Apply a batch of edits with UnKE: one stage-1 target per edit, one shared stage 2.

    `keep` holds edits made earlier whose answers stage 2 must leave as they are (sequential
    editing passes the edits done so far). The model is changed in place; `report.restore()`
    puts block `layer` back.
    """
    config = config or UnkeConfig()
    _check_edits(edits)
    check_layer(model, config.layer)
    started = time.perf_counter()
    snapshot = Snapshot.of(
        model,
        [
            n
            for n, _ in decoder_parts(model)[0][config.layer].named_parameters(
                prefix=f"model.layers.{config.layer}"
            )
        ],
    )
    report = EditReport("unke", snapshot, 0.0)
    pres = preservation_encodings(tokenizer, preservation)  # validated before any work
    kept = _check_edits(list(keep), "keep", allow_empty=True)
    pres += preservation_encodings(
        tokenizer, [{"question": e.question, "answer": e.answer} for e in kept]
    )
    lead_ins = LEAD_INS[: config.lead_ins]
    encoded = [encode(tokenizer, e.question, e.answer) for e in edits]
    variants = [
        [encode(tokenizer, f"{lead}{e.question}", e.answer) for lead in lead_ins] for e in edits
    ]
    # Stage 1 found z with the block's outputs at the answer positions as they were, so stage 2
    # keeps those too: the reference fits the question alone and the answer then drifts.
    edit_targets = []
    for i, (enc, others) in enumerate(
        tqdm(list(zip(encoded, variants, strict=True)), desc="UnKE stage 1", leave=False)
    ):
        target = compute_target(model, enc, config, others)
        edit_targets += [
            EditTarget(e.prompt + e.answer[:-1], e.last_prompt, z)
            for e, z in zip((enc, *others), (target.z, *target.variant_z), strict=True)
        ]
        report.nll_before.append(target.nll_before)
        report.nll_after.append(target.nll_after)
        report.z_steps_used.append(target.steps)
        report.delta_ratio.append(target.delta_ratio)
        if progress is not None:
            progress(
                0.6 * (i + 1) / len(encoded), f"stage 1: edit {i + 1}, NLL {target.nll_after:.2f}"
            )
    stage2 = None
    if progress is not None:

        def stage2(f: float, msg: str) -> None:
            progress(0.6 + 0.4 * f, msg)

    report.fit_error_before, report.fit_error = fit_block(model, edit_targets, pres, config, stage2)
    report.seconds = time.perf_counter() - started
    return report


def sequential_edit(
    model: Any,
    tokenizer: Any,
    edits: list[Edit],
    preservation: list[dict],
    config: UnkeConfig | None = None,
    progress: Progress | None = None,
) -> EditReport:
    """Apply edits one after another, each on the model the previous one left.

    Each edit's stage 2 keeps the answers of the edits before it, so later edits do not write
    over earlier ones. The returned report's restore() undoes all of them.
    """
    config = config or UnkeConfig()
    _check_edits(edits)
    check_layer(model, config.layer)
    started = time.perf_counter()
    first: EditReport | None = None
    for i, edit in enumerate(edits):
        report = unke_edit(model, tokenizer, [edit], preservation, config, keep=edits[:i])
        if first is None:
            first = report
        else:
            first.nll_before += report.nll_before
            first.nll_after += report.nll_after
            first.z_steps_used += report.z_steps_used
            first.delta_ratio += report.delta_ratio
        if progress is not None:
            progress((i + 1) / len(edits), f"sequential edit {i + 1}/{len(edits)}")
    assert first is not None
    first.method = "unke-sequential"
    first.seconds = time.perf_counter() - started
    return first


def finetune(
    model: Any,
    tokenizer: Any,
    edits: list[Edit],
    *,
    names: list[str] | None,
    steps: int,
    lr: float,
    prompt_loss: bool,
    method: str,
    progress: Progress | None = None,
) -> EditReport:
    """Fine-tune the named parameters (None: all) with NLL on the edits' answers.

    `prompt_loss` adds the loss on the prompt tokens too (the all-token recipe).
    """
    _check_edits(edits)
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    started = time.perf_counter()
    params = dict(model.named_parameters())
    chosen = list(params) if names is None else names
    snapshot = Snapshot.of(model, chosen)
    report = EditReport(method, snapshot, 0.0)
    device = next(model.parameters()).device
    encoded = [encode(tokenizer, e.question, e.answer) for e in edits]
    longest = max(len(e.prompt) + len(e.answer) for e in encoded)
    ids = torch.full((len(encoded), longest), tokenizer.eos_token_id, device=device)
    mask = torch.zeros_like(ids)
    labels = torch.full_like(ids, -100)
    for i, enc in enumerate(encoded):
        seq = enc.prompt + enc.answer
        ids[i, : len(seq)] = torch.tensor(seq)
        mask[i, : len(seq)] = 1
        start = 1 if prompt_loss else len(enc.prompt)
        labels[i, start : len(seq)] = ids[i, start : len(seq)]
    for p in model.parameters():
        p.requires_grad_(False)
    trained = [params[n] for n in chosen]
    for p in trained:
        p.requires_grad_(True)
    optim = torch.optim.AdamW(trained, lr=lr, weight_decay=0.0)
    for step in tqdm(range(steps), desc=method, leave=False):
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        if step == 0:
            report.nll_before.append(float(loss.detach()))
        optim.zero_grad()
        loss.backward()
        optim.step()
        if progress is not None and step % 10 == 0:
            progress(step / steps, f"{method} step {step}, loss {float(loss.detach()):.3f}")
    report.nll_after.append(float(loss.detach()))
    for p in trained:
        p.requires_grad_(False)
    report.seconds = time.perf_counter() - started
    return report


def ft_l(
    model: Any,
    tokenizer: Any,
    edits: list[Edit],
    layer: int = 7,
    steps: int = 80,
    lr: float = 5e-4,
    progress: Progress | None = None,
) -> EditReport:
    """FT-L: fine-tune block `layer`'s MLP only, NLL on all answer tokens."""
    check_layer(model, layer)
    names = [n for n, _ in model.named_parameters() if n.startswith(f"model.layers.{layer}.mlp.")]
    return finetune(
        model,
        tokenizer,
        edits,
        names=names,
        steps=steps,
        lr=lr,
        prompt_loss=False,
        method="ft-l",
        progress=progress,
    )


def ft_all(
    model: Any,
    tokenizer: Any,
    edits: list[Edit],
    steps: int = 80,
    lr: float = 2e-5,
    progress: Progress | None = None,
) -> EditReport:
    """Full fine-tuning with the loss on all tokens (prompt and answer)."""
    return finetune(
        model,
        tokenizer,
        edits,
        names=None,
        steps=steps,
        lr=lr,
        prompt_loss=True,
        method="ft-all",
        progress=progress,
    )
