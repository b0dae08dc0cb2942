"""ScriptedChat: a ChatModel double that answers by the schema it is given (for agent tests).

It stands in for the LLM only where a test needs fixed replies; the graph, the store, the
tools and the checkpointer stay real. Actions are replayed from a list; ratings, plans,
questions and insights are answered from simple rules.
"""

from __future__ import annotations

from typing import Any

from agents.llm import Reply, Usage


class ScriptedChat:
    name = "scripted"

    def __init__(
        self,
        actions: list[dict[str, Any]],
        *,
        importance: int = 5,
        plan: list[tuple[str, str]] | None = None,
    ) -> None:
        self.actions = list(actions)
        self.importance = importance
        self.plan = plan or [("Use the tools to reach the goal", "none")]
        self.calls: list[str] = []

    def chat(self, messages, schema=None, **kwargs) -> Reply:
        props = (schema or {}).get("properties", {})
        if "ratings" in props:
            kind, parsed = (
                "importance",
                {"ratings": [self.importance] * props["ratings"]["minItems"]},
            )
        elif "steps" in props:
            kind = "plan"
            parsed = {"steps": [{"step": s, "tool": t} for s, t in self.plan]}
        elif "action" in props:
            kind = "act"
            action = self.actions.pop(0) if self.actions else {"tool": "finish", "answer": "done"}
            parsed = {"action": action, "replan": bool(action.pop("_replan", False))}
        elif "questions" in props:
            kind, parsed = "questions", {"questions": ["What did the tools find?"]}
        elif "insights" in props:
            kind = "insights"
            parsed = {
                "insights": [
                    {"insight": "The notes summarise the findings so far.", "evidence": [1]}
                ]
            }
        else:
            # A plain-text request is the final answer: the next scripted finish supplies it.
            kind, parsed = "answer", None
            action = self.actions.pop(0) if self.actions else {"answer": "done"}
            self.calls.append(kind)
            return Reply(
                text=action.get("answer", "done"),
                usage=Usage(100, 20),
                latency_s=0.01,
                model="scripted",
            )
        self.calls.append(kind)
        return Reply(
            text=str(parsed), parsed=parsed, usage=Usage(100, 20), latency_s=0.01, model="scripted"
        )
