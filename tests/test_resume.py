"""Kill-and-resume: a real `ponder run` killed with SIGKILL mid-tool, then resumed."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tests.scripted_chat import ScriptedChat
from tests.test_registry import install_fake_distribution

PONDER = str(Path(sys.executable).parent / "ponder")


def scripted_responder():
    """Answers OpenAI requests from the schema, like ScriptedChat; act depends on the prompt."""
    rules = ScriptedChat([], plan=[("Wait with demo.wait", "demo.wait"), ("Answer", "none")])

    def respond(body: dict) -> str:
        schema = body.get("response_format", {}).get("json_schema", {}).get("schema", {})
        prompt = body["messages"][-1]["content"]
        props = schema.get("properties", {})
        if not schema:  # the final answer, asked for as plain text
            return "Waited as asked."
        if "action" in props:
            reply = {"action": {"tool": "demo.wait", "args": {"seconds": 4.0}}}
            if "Result of the last step: demo.wait" in prompt:
                reply = {"action": {"tool": "finish", "answer": "Waited as asked."}}
            if "replan" in props:
                reply["replan"] = False
            return json.dumps(reply)
        return json.dumps(rules.chat(body["messages"], schema).parsed)

    return respond


def test_run_killed_mid_tool_resumes_without_losing_or_duplicating_memories(
    tmp_path, ponder_home, openai_server
):
    openai_server.responder = scripted_responder()
    site = tmp_path / "site"
    site.mkdir()
    install_fake_distribution(site, "demo = ponder_demo_plugin")
    task = tmp_path / "wait.yaml"
    task.write_text(
        "goal: Wait four seconds, then answer.\n"
        "tools: [demo.wait]\n"
        "plan: [Wait with demo.wait, Finish with an answer]\n"
        "expect: {tools_called: [demo.wait], artifacts: [waited.txt]}\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(site),
        "PONDER_LLM": "openai",
        "OPENAI_BASE_URL": openai_server.base_url,
        "OPENAI_MODEL": "fake-model",
        "HF_HUB_OFFLINE": "1",
    }
    first = subprocess.Popen(
        [PONDER, "run", str(task)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    runs = ponder_home / "runs"
    deadline = time.time() + 120
    trace = None
    while time.time() < deadline:
        traces = list(runs.glob("*/trace.jsonl"))
        if traces and '"tool_called"' in traces[0].read_text():
            trace = traces[0]
            break
        time.sleep(0.2)
    assert trace is not None, first.communicate(timeout=5)
    os.kill(first.pid, signal.SIGKILL)  # mid-tool: the tool sleeps 4 s
    first.wait(timeout=10)
    run_id = trace.parent.name
    assert not (trace.parent / "report.md").exists()

    def memories():
        db = sqlite3.connect(ponder_home / "memory" / "memories.sqlite3")
        rows = db.execute(
            "SELECT id, kind, text FROM memories WHERE run_id = ?", (run_id,)
        ).fetchall()
        db.close()
        return rows

    before = memories()
    resumed = subprocess.run(
        [PONDER, "run", "--resume", run_id], env=env, capture_output=True, text=True, timeout=180
    )
    assert resumed.returncode == 0, resumed.stderr
    assert f"run {run_id}: finished" in resumed.stdout
    after = memories()
    assert set(before) <= set(after)  # nothing lost
    texts = [(kind, text) for _, kind, text in after]
    assert len(texts) == len(set(texts))  # nothing stored twice
    kinds = sorted(kind for kind, _ in texts)
    assert kinds == ["action", "chat", "observation", "plan", "plan", "tool_result"]
    assert (trace.parent / "report.md").is_file()
    assert (trace.parent / "artifacts" / "waited.txt").read_text() == "4.0"
