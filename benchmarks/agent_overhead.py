"""The agent's own cost per step: wall time outside LLM calls, and LLM calls per step.

A scripted LLM (instant, fixed replies) drives real runs: the LangGraph graph with its SQLite
checkpointer, the memory store with the real MiniLM embedder, retrieval over a memory stream
pre-filled with N memories (synthetic unit vectors, so filling 10k takes seconds), and the
real notes.write tool. Time spent inside the LLM is measured and subtracted.

Targets: <= 50 ms per step outside LLM calls at 10k memories; <= 3 LLM calls per step in
steady state (the Generative Agents reference spends about 8 per action).

    python -m benchmarks.agent_overhead [--sizes 1000 10000] [--steps 24] [--repeats 3]
                                        [--threads N] [--out DIR]

The embedder runs with the agent's own torch thread setting (`[local] threads`, default all
cores; `--threads` overrides it). A step's time swings by 10-15 ms from run to run on this
machine's disk, so each size is run `--repeats` times and the target is read off the median
run's median steady step.

Where the time goes (cProfile, 10k memories, one thread): each step stores its action and result
in one batch, and that batch costs one MiniLM call for two texts (~30 ms); retrieval for the next
step (vector query, BM25, scoring) a few ms (p95 5.6 ms at 10k in benchmarks/retrieval_speed.py);
chroma's durable upsert 7-30 ms, depending on how fast the disk syncs at that moment, which is
most of the run-to-run swing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from agents.agent import ResearchAgent
from agents.config import load_settings
from agents.events import read_trace
from agents.tasks import Budgets, TaskSpec
from benchmarks.common import at_most, print_targets, write_json
from memory.records import Kind, NewMemory
from memory.reflection import REFLECTION_MARK, ReflectionConfig
from memory.store import MemoryStore

STEADY_FROM = 2  # the first steps also rate the goal and the plan


class TimedScriptedChat:
    """Instant scripted replies by schema; records the time spent inside `chat`."""

    name = "scripted"

    def __init__(self, steps: int) -> None:
        self.remaining = steps
        self.seconds = 0.0
        self.calls_by_step: list[int] = []

    def chat(self, messages, schema=None, **kwargs):
        from agents.llm import Reply, Usage

        started = time.perf_counter()
        props = (schema or {}).get("properties", {})
        if "ratings" in props:
            parsed = {"ratings": [5] * props["ratings"]["minItems"]}
        elif "action" in props:
            self.remaining -= 1
            if self.remaining > 0:
                action = {
                    "tool": "notes.write",
                    "args": {"title": f"n{self.remaining}", "text": "x"},
                }
            else:
                action = {"tool": "finish", "answer": "done"}
            parsed = {"action": action}
            if "replan" in props:
                parsed["replan"] = False
        else:
            raise AssertionError(f"unexpected schema: {list(props)}")
        reply = Reply(
            text=json.dumps(parsed),
            parsed=parsed,
            usage=Usage(10, 5),
            latency_s=0.0,
            model="scripted",
        )
        self.seconds += time.perf_counter() - started
        return reply


def fill(store: MemoryStore, n: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    now = time.time()
    memories = [
        NewMemory(
            f"past finding {i}: metric {rng.random():.3f}",
            Kind.OBSERVATION,
            importance=int(rng.integers(1, 11)),
            created=now - float(rng.uniform(0, 30 * 86400)),
        )
        for i in range(n)
    ]
    for start in range(0, n, 5000):
        store.add_many(memories[start : start + 5000], vectors=vectors[start : start + 5000])
    # A long-lived stream has been reflected on all along: only new memories count toward
    # the next reflection (otherwise every step would sum the importance of all N).
    store.set_mark(REFLECTION_MARK, store.seq_of(store.list(limit=1)[0].id))


def measure(n_memories: int, steps: int, embedder) -> dict:
    with tempfile.TemporaryDirectory() as home:
        settings = load_settings(env={"PONDER_HOME": home})
        store = MemoryStore(settings.home / "memory", embedder)
        fill(store, n_memories)
        chat = TimedScriptedChat(steps)
        task = TaskSpec(
            goal="Write notes on attention.",
            tools=["notes.write"],
            plan=["Write notes with notes.write"] * (steps - 1) + ["Finish"],
            budgets=Budgets(steps=steps + 1),
        )
        # Reflection is a periodic cost (3 + questions LLM calls every ~150 importance), not a
        # per-step one; it is left out here.
        agent = ResearchAgent(
            settings, chat=chat, store=store, reflection=ReflectionConfig(threshold=10**9)
        )
        agent.run(task, run_id="warmup")  # loads MiniLM, builds the graph once
        chat = TimedScriptedChat(steps)
        agent._chat = chat
        started = time.perf_counter()
        result = agent.run(task, run_id="bench")
        wall = time.perf_counter() - started
        usage = [e for e in read_trace(result.run_dir / "trace.jsonl") if e["type"] == "usage"]
        acts = [i for i, e in enumerate(usage) if e["purpose"] == "act"]
        steady = acts[STEADY_FROM:]
        calls_per_step = (acts[-1] - acts[STEADY_FROM]) / max(len(steady) - 1, 1)
        # A steady step runs from one act call to the next: retrieve, approve, tool, observe,
        # checkpoints. The scripted LLM takes microseconds, so this is all overhead.
        act_times = [usage[i]["at"] for i in steady]
        step_ms = [1000 * (b - a) for a, b in zip(act_times, act_times[1:], strict=False)]
        store.close()
        return {
            "memories": n_memories,
            "steps": result.tools_called.__len__() + 1,
            "status": result.status,
            "wall_s": wall,
            "llm_s": chat.seconds,
            "overhead_ms_per_step": statistics.median(step_ms),
            "overhead_ms_per_step_max": max(step_ms),
            "run_overhead_ms_per_step": 1000
            * (wall - chat.seconds)
            / (len(result.tools_called) + 1),
            "llm_calls": len(usage),
            "llm_calls_per_step_steady": calls_per_step,
        }


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--steps", type=int, default=24)
    parser.add_argument("--repeats", type=int, default=3, help="runs per size (median reported)")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: agent's)"
    )
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args(argv)

    import torch

    from agents.models import resolve_embedding_model
    from memory.embeddings import SentenceEmbedder

    threads = args.threads or load_settings().local.threads
    if threads:
        torch.set_num_threads(threads)
    embedder = SentenceEmbedder(resolve_embedding_model().path)
    rows = []
    for n in args.sizes:
        runs = [measure(n, args.steps, embedder) for _ in range(args.repeats)]
        median_run = sorted(runs, key=lambda r: r["overhead_ms_per_step"])[len(runs) // 2]
        rows.append(
            {**median_run, "repeats_ms_per_step": [r["overhead_ms_per_step"] for r in runs]}
        )

    print(
        f"\nAgent overhead per step (scripted instant LLM; real graph, store, embedder, tool; "
        f"{torch.get_num_threads()} torch threads; median of {args.repeats} runs)"
    )
    header = ("memories", "steps", "steady ms/step", "max", "whole run ms/step", "LLM calls/step")
    print("{:>9} {:>6} {:>15} {:>7} {:>18} {:>15}  runs".format(*header))
    for r in rows:
        each = ", ".join(f"{v:.1f}" for v in r["repeats_ms_per_step"])
        print(
            f"{r['memories']:>9} {r['steps']:>6} {r['overhead_ms_per_step']:>15.1f} "
            f"{r['overhead_ms_per_step_max']:>7.1f} {r['run_overhead_ms_per_step']:>18.1f} "
            f"{r['llm_calls_per_step_steady']:>15.1f}  {each}"
        )
    largest = max(rows, key=lambda r: r["memories"])
    checks = [
        at_most(
            f"steady overhead at {largest['memories']} memories (ms/step, median run)",
            largest["overhead_ms_per_step"],
            50,
        ),
        at_most("LLM calls per steady step", max(r["llm_calls_per_step_steady"] for r in rows), 3),
    ]
    print_targets(checks)
    write_json(
        {
            "benchmark": "agent_overhead",
            "torch_threads": torch.get_num_threads(),
            "rows": rows,
            "targets": checks,
        },
        args.out,
        "agent_overhead",
    )
    return rows


if __name__ == "__main__":
    main()
