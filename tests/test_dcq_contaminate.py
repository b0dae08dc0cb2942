"""Controlled contamination: the frozen bottom runs once and the top layers alone reproduce the
full forward; memorising and quiz-format tuning train only the top layers and lower their loss."""

from __future__ import annotations

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from methods.dcq import format_quizzes, memorize, teach_quiz_format
from methods.dcq.contaminate import frozen_bottom_states, top_forward

pytestmark = pytest.mark.usefixtures("one_thread")

TEXTS = ["the cat sat on the red mat today", "a dog ran to the old gate at night"]
PERTURBED = [
    [
        "the cat sat on the blue mat today",
        "the cat lay on the red mat today",
        "the cat sat on the red rug today",
        "the cat sat by the red mat today",
    ],
    [
        "a dog ran to the new gate at night",
        "a dog ran to the old door at night",
        "a dog walked to the old gate at night",
        "a dog ran to the old gate at dawn",
    ],
]


def tiny_llama(vocab_size: int, layers: int = 4) -> LlamaForCausalLM:
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        initializer_range=0.2,  # logits large enough for a few steps to move the loss
    )
    return LlamaForCausalLM(config).eval()


def test_bottom_once_then_top_layers_equal_the_full_forward_on_padded_batches():
    model = tiny_llama(100)
    sequences = [[1, 5, 7, 9, 11, 13], [1, 3, 4]]
    bottom = frozen_bottom_states(model, sequences, first=2)
    padded = torch.nn.utils.rnn.pad_sequence(bottom, batch_first=True)
    with torch.no_grad():
        top = top_forward(model, padded, first=2)
        for i, ids in enumerate(sequences):
            full = model.model(torch.tensor([ids])).last_hidden_state[0]
            assert torch.allclose(top[i, : len(ids)], full, atol=1e-5)


def changed_parameters(model: torch.nn.Module, before: dict[str, torch.Tensor]) -> set[str]:
    return {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}


def test_memorising_lowers_the_loss_and_moves_only_the_top_layers(local_chat):
    tokenizer = local_chat.loaded.tokenizer
    model = tiny_llama(len(tokenizer))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    log = memorize(model, tokenizer, TEXTS, epochs=25, lr=1e-2, layers=2, target_loss=None)
    assert log.losses[-1] < 0.5 * log.losses[0]
    changed = changed_parameters(model, before)
    assert changed and all(
        n.startswith(("model.layers.2.", "model.layers.3.", "model.norm")) for n in changed
    )
    with pytest.raises(ValueError, match="layers"):
        memorize(model, tokenizer, TEXTS, layers=5)
    with pytest.raises(ValueError, match="texts"):
        memorize(model, tokenizer, [])


def test_quiz_format_tuning_lowers_the_loss_on_the_answer_letter(local_chat):
    tokenizer = local_chat.loaded.tokenizer
    model = tiny_llama(len(tokenizer))
    quizzes = format_quizzes(TEXTS, PERTURBED, True, per_instance=4, seed=0)
    log = teach_quiz_format(
        model, tokenizer, quizzes, dataset="toy", split="test", epochs=12, lr=1e-2, layers=2
    )
    assert log.losses[-1] < 0.7 * log.losses[0]
    with pytest.raises(ValueError, match="quizzes"):
        teach_quiz_format(model, tokenizer, [], dataset="toy", split="test")
