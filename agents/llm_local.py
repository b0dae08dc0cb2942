"""LocalChat: the embedded chat model (SmolLM2-135M-Instruct by default), in-process on CPU.

Given a schema, decoding is constrained by an xgrammar JSON-schema grammar: at every step the
tokens that would break the grammar are masked out, so even a 135M model returns JSON that
parses and fits. The model is loaded on the first call, not at construction.
"""

from __future__ import annotations

import json
import threading
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agents.config import ponder_home
from agents.errors import LLMOutputError
from agents.llm import (
    Message,
    Reply,
    Schema,
    Usage,
    json_schema_of,
    parse_reply,
    with_json_instruction,
)
from agents.models import LoadedChatModel, load_chat_model, resolve_chat_model

if TYPE_CHECKING:
    from agents.config import Settings


class LocalChat:
    """A transformers causal LM behind the `ChatModel` protocol.

    Args:
        model: a model directory, .gguf file or cached Hugging Face id; None finds SmolLM2.
        cache_dir: where converted GGUF weights are kept (PONDER_HOME/models).
        quantize: "int8" quantizes linear layers dynamically: about 2x faster decoding on CPU,
            at a real cost in quality (see LocalSettings.quantize); "none" keeps float32.
        threads: torch's thread count, set when the model loads; None leaves torch's default.
        max_new_tokens: the default cap on reply length.
        repetition_penalty: greedy decoding of a 135M model falls into loops ("and-squeeze-and-
            squeeze-..."); a mild penalty (1.1) stops most of them without hurting JSON, whose
            structure the grammar fixes anyway.
    """

    endpoint = "local"

    def __init__(
        self,
        model: str | None = None,
        *,
        cache_dir: Path | None = None,
        quantize: str = "none",
        threads: int | None = None,
        max_new_tokens: int = 512,
        repetition_penalty: float = 1.1,
    ) -> None:
        if quantize not in ("int8", "none"):
            raise ValueError(f"quantize must be 'int8' or 'none', got {quantize!r}")
        self.model_ref = model
        self.cache_dir = cache_dir or ponder_home() / "models"
        self.quantize = quantize
        self.threads = threads
        self.max_new_tokens = max_new_tokens
        self.repetition_penalty = repetition_penalty
        self.name = model or "SmolLM2-135M-Instruct"
        self.loaded: LoadedChatModel | None = None
        self._lock = threading.Lock()
        self._grammar_compiler: Any = None
        self._grammars: dict[str, Any] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalChat:
        return cls(
            settings.local.model,
            cache_dir=settings.model_cache_dir,
            quantize=settings.local.quantize,
            threads=settings.local.threads,
            max_new_tokens=settings.local.max_new_tokens,
        )

    def load(self) -> LoadedChatModel:
        """Resolve and load the model now (otherwise the first `chat` does it)."""
        with self._lock:
            if self.loaded is None:
                import torch

                if self.threads:
                    torch.set_num_threads(self.threads)
                loaded = load_chat_model(resolve_chat_model(self.model_ref), self.cache_dir)
                if self.quantize == "int8":
                    loaded.model = _quantize_int8(loaded.model)
                self.name = loaded.source.name
                self.loaded = loaded
            return self.loaded

    def chat(
        self,
        messages: list[Message],
        schema: Schema | None = None,
        *,
        max_tokens: int | None = None,
        temperature: float = 0.0,
    ) -> Reply:
        import torch

        loaded = self.load()
        tokenizer, model = loaded.tokenizer, loaded.model
        if schema is not None:
            messages = with_json_instruction(messages, schema, enforced=True)
        inputs = tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        prompt_len = inputs["input_ids"].shape[1]
        limit = max_tokens or self.max_new_tokens
        processors = [self._grammar_processor(schema)] if schema is not None else []
        sampling: dict[str, Any] = {"do_sample": False}
        if temperature > 0:
            sampling = {"do_sample": True, "temperature": temperature, "top_p": 0.95}

        started = time.perf_counter()
        with torch.inference_mode():
            output = model.generate(
                **inputs,
                max_new_tokens=limit,
                logits_processor=processors,
                eos_token_id=tokenizer.eos_token_id,
                pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id,
                top_k=None,
                repetition_penalty=self.repetition_penalty,
                **sampling,
            )
        latency = time.perf_counter() - started

        new_tokens = output[0, prompt_len:].tolist()
        finished = bool(new_tokens) and new_tokens[-1] == tokenizer.eos_token_id
        text = tokenizer.decode(new_tokens, skip_special_tokens=True).strip()
        usage = Usage(prompt_tokens=prompt_len, completion_tokens=len(new_tokens))
        parsed = None
        if schema is not None:
            # The grammar only lets the end-of-turn token through once the JSON is complete,
            # so a reply that did not end with it was cut off by the length limit.
            if not finished:
                raise LLMOutputError(
                    f"reply was cut off at max_tokens={limit} before the JSON was complete; "
                    f"raise max_tokens or bound the schema (maxItems, maxLength)",
                    endpoint=self.endpoint,
                    text=text,
                )
            parsed = parse_reply(text, schema, endpoint=self.endpoint)
        return Reply(
            text=text,
            parsed=parsed,
            usage=usage,
            latency_s=latency,
            model=self.name,
            endpoint=self.endpoint,
            finish_reason="stop" if finished else "length",
        )

    def _grammar_processor(self, schema: Schema) -> _GrammarLogitsProcessor:
        import xgrammar as xgr

        loaded = self.load()
        if self._grammar_compiler is None:
            vocab_size = loaded.model.config.vocab_size
            info = xgr.TokenizerInfo.from_huggingface(loaded.tokenizer, vocab_size=vocab_size)
            self._grammar_compiler = xgr.GrammarCompiler(info)
        schema_json = json.dumps(json_schema_of(schema))  # keeps the property order
        if schema_json not in self._grammars:
            # any_whitespace=False: a small model otherwise can emit newlines forever.
            self._grammars[schema_json] = self._grammar_compiler.compile_json_schema(
                schema_json, any_whitespace=False
            )
        return _GrammarLogitsProcessor(self._grammars[schema_json])


class _GrammarLogitsProcessor:
    """Masks, at each decoding step, every token the JSON grammar does not allow next."""

    def __init__(self, compiled_grammar: Any) -> None:
        import xgrammar as xgr

        self._xgr = xgr
        self.matcher = xgr.GrammarMatcher(compiled_grammar)
        self.vocab_size = compiled_grammar.tokenizer_info.vocab_size
        self.bitmask = xgr.allocate_token_bitmask(1, self.vocab_size)
        self.prompt_len: int | None = None

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        if self.prompt_len is None:
            self.prompt_len = input_ids.shape[1]
        elif not self.matcher.accept_token(int(input_ids[0, -1])):
            raise RuntimeError("grammar rejected a token it had allowed (xgrammar bug?)")
        self.matcher.fill_next_token_bitmask(self.bitmask)
        self._xgr.apply_token_bitmask_inplace(scores, self.bitmask)
        return scores


def _quantize_int8(model: Any) -> Any:
    import torch
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    with warnings.catch_warnings():
        # torch marks quantized tensor constructors deprecated; the pinned torch still ships
        # them, and this is the one supported CPU int8 path without an extra dependency.
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        return quantize_dynamic(
            model, {torch.nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8
        )
