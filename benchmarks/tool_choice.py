"""How often the act step picks a tool that fits the plan step, on a small labelled set.

Each case is a plan step from a research session and the tool a researcher would use for it;
the agent sees the same act prompt and action schema as in a run (all tools offered, the plan
step's expected tool *not* given, so the choice is the model's). Reports accuracy for the
embedded model, and for an OpenAI-compatible endpoint when OPENAI_BASE_URL and OPENAI_MODEL
are set.

    python -m benchmarks.tool_choice [--limit N] [--out DIR]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from pydantic import BaseModel, Field

from agents.actions import action_schema
from agents.prompts import render
from benchmarks.common import write_json
from tools.registry import Tool, ToolContext, ToolResult, tool


class _Args(BaseModel):
    target: str = Field(max_length=80, description="What to run the method on.")


def _declare(name: str, description: str) -> Tool:
    # Only the name, description and argument schema reach the model; the function never runs.
    def fn(args: _Args, ctx: ToolContext) -> ToolResult:
        """Placeholder body."""
        raise NotImplementedError

    fn.__doc__ = description
    return tool(name)(fn)


TOOLS = {
    t.name: t
    for t in [
        _declare(
            "dcq.quiz", "Detect whether a language model saw a benchmark's test set in training."
        ),
        _declare("circuits.discover", "Find the sparse feature circuit behind a model behaviour."),
        _declare("unke.edit", "Edit a long-form, unstructured fact stored in a language model."),
        _declare("pruning.prune", "Prune the filters of a face-recognition CNN by Taylor score."),
        _declare("occupancy.reconstruct", "Reconstruct a 3D shape as an occupancy network."),
        _declare("dsdl.validate", "Parse and validate a dataset description written in DSDL."),
        _declare("attention.insert", "Insert a visual attention module into a CNN."),
        _declare("notes.write", "Write a markdown note into the run's artifact folder."),
    ]
}

CASES = [
    ("Check if the model memorised the GSM8K test questions", "dcq.quiz"),
    ("Estimate contamination of MMLU in the pretraining data", "dcq.quiz"),
    ("Test whether the benchmark leaked into training", "dcq.quiz"),
    ("Locate the features that drive subject-verb agreement", "circuits.discover"),
    ("Find which SAE features explain the gender bias in the classifier", "circuits.discover"),
    ("Trace the circuit responsible for the probe's decision", "circuits.discover"),
    ("Update the model's knowledge of the new CEO biography", "unke.edit"),
    ("Change the paragraph the model recalls about the 2024 election", "unke.edit"),
    ("Rewrite the model's stored description of the company history", "unke.edit"),
    ("Make the face recognition network 30% smaller", "pruning.prune"),
    ("Remove the least useful filters from the SqueezeNet face model", "pruning.prune"),
    ("Compress the MobileNet face embedder for a phone", "pruning.prune"),
    ("Recover the 3D mesh of the chair from its point cloud", "occupancy.reconstruct"),
    ("Build a watertight surface from the single input image", "occupancy.reconstruct"),
    ("Reconstruct the car shape in 3D", "occupancy.reconstruct"),
    ("Check that the COCO-style dataset description is well formed", "dsdl.validate"),
    ("Validate the YAML dataset spec before training", "dsdl.validate"),
    ("Load the dataset described by the DSDL file", "dsdl.validate"),
    ("Add squeeze-and-excitation blocks to the ResNet", "attention.insert"),
    ("Try CBAM attention in the backbone", "attention.insert"),
    ("Put a spatial attention module after each stage", "attention.insert"),
    ("Record today's findings in a note", "notes.write"),
    ("Summarise the results in a short write-up", "notes.write"),
    ("Save a note listing the open questions", "notes.write"),
]


def act_prompt(step: str) -> str:
    return render(
        "agent",
        "act",
        persona="",
        goal=f"Carry out this step: {step}",
        plan=[step],
        current=0,
        memories=[],
        inputs="",
        last_result="",
        tools={name: t.description for name, t in TOOLS.items()},
        may_replan=False,
    )


def evaluate(chat, cases: list[tuple[str, str]]) -> dict:
    schema = action_schema(TOOLS, allow_finish=False, allow_replan=False)
    correct, rows, started = 0, [], time.perf_counter()
    for step, expected in cases:
        try:
            reply = chat.chat(
                [{"role": "user", "content": act_prompt(step)}], schema, max_tokens=120
            )
            chosen = reply.parsed["action"]["tool"]
        except Exception as exc:  # a failed reply counts as a miss, and is shown
            chosen = f"error: {exc}"
        correct += chosen == expected
        rows.append({"step": step, "expected": expected, "chosen": chosen})
    return {
        "model": chat.name,
        "accuracy": correct / len(cases),
        "correct": correct,
        "cases": len(cases),
        "chance": 1 / len(TOOLS),
        "seconds": time.perf_counter() - started,
        "rows": rows,
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=len(CASES), help="Use the first N cases.")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args(argv)

    import torch

    from agents.config import load_settings
    from agents.llm_local import LocalChat

    torch.set_num_threads(int(os.environ.get("PONDER_THREADS", "1")))
    cases = CASES[: args.limit]
    results = {"local": evaluate(LocalChat.from_settings(load_settings()), cases)}
    if os.environ.get("OPENAI_BASE_URL") and os.environ.get("OPENAI_MODEL"):
        from agents.llm_openai import OpenAIChat

        remote = OpenAIChat(
            os.environ["OPENAI_MODEL"],
            base_url=os.environ["OPENAI_BASE_URL"],
            api_key=os.environ.get("OPENAI_API_KEY"),
        )
        results["openai"] = evaluate(remote, cases)
    else:
        results["openai"] = {"skipped": "set OPENAI_BASE_URL and OPENAI_MODEL to compare"}

    print(
        f"\nTool choice on {len(cases)} labelled plan steps ({len(TOOLS)} tools, chance "
        f"{1 / len(TOOLS):.2f})"
    )
    print(f"{'backend':<10} {'model':<28} {'accuracy':>9} {'seconds':>8}")
    for backend, r in results.items():
        if "skipped" in r:
            print(f"{backend:<10} {'-':<28} {'-':>9} {'-':>8}   ({r['skipped']})")
        else:
            print(f"{backend:<10} {r['model']:<28} {r['accuracy']:>9.2f} {r['seconds']:>8.1f}")
    misses = [row for row in results["local"]["rows"] if row["chosen"] != row["expected"]]
    for row in misses[:8]:
        print(f"  miss: {row['step']!r}: chose {row['chosen']}, expected {row['expected']}")
    write_json({"benchmark": "tool_choice", **results}, args.out, "tool_choice")
    return results


if __name__ == "__main__":
    main()
