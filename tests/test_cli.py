"""The `ponder` command line, in-process with click's runner and end to end as a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from agents.cli import cli
from tests.test_registry import install_fake_distribution

PONDER = str(Path(sys.executable).parent / "ponder")


def run_ponder(*args: str, env: dict[str, str] | None = None, timeout: float = 300):
    return subprocess.run(
        [PONDER, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=timeout,
    )


def test_help_lists_the_commands():
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for command in ("ask", "config", "tools"):
        assert command in result.output


def test_config_show_prints_resolved_settings_with_the_key_masked(monkeypatch, ponder_home):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-super-secret-abcd")
    result = CliRunner().invoke(cli, ["config", "show", "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert shown["home"] == str(ponder_home)
    assert shown["openai"]["api_key"] == "...abcd"
    assert "SmolLM2-135M-Instruct (wheel" in shown["resolved_models"]["chat"]
    assert "super-secret" not in result.output


def test_usage_error_exits_2():
    result = CliRunner().invoke(cli, ["tools", "call"])
    assert result.exit_code == 2
    assert "Missing argument 'NAME'" in result.output


def test_bad_args_json_is_a_usage_error():
    result = CliRunner().invoke(cli, ["tools", "call", "notes.write", "--args", "{oops"])
    assert result.exit_code == 2
    assert "not valid JSON" in result.output


def test_failure_exits_1_with_a_one_line_reason():
    result = CliRunner().invoke(cli, ["tools", "call", "notes.write", "--args", '{"title": "x"}'])
    assert result.exit_code == 1
    assert (
        result.output.strip() == "Error: notes.write: argument 'text' expects str: Field required"
    )


def test_invalid_config_exits_1_naming_the_file(ponder_home):
    ponder_home.mkdir()
    (ponder_home / "config.toml").write_text("[llm]\nbackend = 'gpt'\n")
    result = CliRunner().invoke(cli, ["config", "show"])
    assert result.exit_code == 1
    assert "llm.backend" in result.output and "config.toml" in result.output


def test_tools_call_end_to_end_with_args_from_a_file(tmp_path, ponder_home):
    args = tmp_path / "args.json"
    args.write_text(
        json.dumps({"title": "Attention survey", "text": "Channel, spatial, temporal."})
    )
    result = run_ponder("tools", "call", "notes.write", "--args", f"@{args}", "--json")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    note = Path(payload["artifacts"][0])
    assert note.is_relative_to(ponder_home / "runs" / "calls")
    assert note.read_text().startswith("# Attention survey")
    assert payload["words"] == 3


def test_plugin_tool_is_listed_and_callable_from_the_cli(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    install_fake_distribution(site, "demo = ponder_demo_plugin")
    env = {"PYTHONPATH": str(site)}
    listed = run_ponder("tools", "list", env=env)
    assert listed.returncode == 0, listed.stderr
    assert "demo.shout" in listed.stdout and "notes.write" in listed.stdout
    called = run_ponder("tools", "call", "demo.shout", "--args", '{"text": "hi"}', env=env)
    assert called.returncode == 0, called.stderr
    assert called.stdout.strip() == "HI"


@pytest.mark.model
def test_smoke_task_answers_offline_with_the_embedded_model(local_chat, model_cache, ponder_home):
    ponder_home.mkdir(parents=True, exist_ok=True)
    (ponder_home / "models").symlink_to(model_cache)  # reuse this session's conversion
    result = run_ponder(
        "ask",
        "Name three uses of attention in vision models.",
        "--max-tokens",
        "60",
        env={"HF_HUB_OFFLINE": "1", "PONDER_THREADS": "1"},
    )
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.split()) >= 10
    assert "tok/s" in result.stderr


@pytest.mark.model
def test_ask_with_a_schema_prints_json(local_chat, model_cache, ponder_home):
    ponder_home.mkdir(parents=True, exist_ok=True)
    (ponder_home / "models").symlink_to(model_cache)
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "string", "maxLength": 60}},
        "required": ["answer"],
    }
    result = run_ponder(
        "ask", "What does SHIFT edit?", "--schema", json.dumps(schema), env={"PONDER_THREADS": "1"}
    )
    assert result.returncode == 0, result.stderr
    assert set(json.loads(result.stdout)) == {"answer"}


def test_run_needs_a_task_or_a_run_id():
    result = CliRunner().invoke(cli, ["run"])
    assert result.exit_code == 2
    assert "give either TASK or --resume RUN_ID" in result.output


def test_resume_of_an_unknown_run_exits_1():
    result = CliRunner().invoke(cli, ["run", "--resume", "no-such-run"])
    assert result.exit_code == 1
    assert "no run no-such-run" in result.output


def test_memory_commands_list_search_show_and_forget(ponder_home, embedder):
    from agents.agent import open_memory
    from agents.config import load_settings
    from memory.records import Kind, NewMemory

    store = open_memory(load_settings(), embedder)
    added = store.add_many(
        [
            NewMemory("DCQ found GSM8K contaminated.", Kind.TOOL_RESULT, importance=9, id="m-dcq"),
            NewMemory("Listed the runs folder.", Kind.ACTION, importance=1, id="m-ls"),
            NewMemory("DCQ re-run: clean.", Kind.TOOL_RESULT, id="m-dcq2", supersedes=["m-dcq"]),
        ]
    )
    store.close()
    runner = CliRunner()
    listed = runner.invoke(cli, ["memory", "list"])
    assert listed.exit_code == 0 and "m-dcq" in listed.output and "m-ls" in listed.output
    assert "[superseded by m-dcq2]" in listed.output
    searched = runner.invoke(cli, ["memory", "search", "benchmark contamination", "-k", "1"])
    assert searched.exit_code == 0, searched.output
    assert (
        searched.output.startswith("m-dcq")
        and "rec " in searched.output
        and "rel " in searched.output
    )
    shown = runner.invoke(cli, ["memory", "show", "m-dcq"])
    assert json.loads(shown.output)["importance"] == 9
    assert runner.invoke(cli, ["memory", "forget", added[1].id]).exit_code == 0
    missing = runner.invoke(cli, ["memory", "show", "m-ls"])
    assert missing.exit_code == 1 and "no memory with id 'm-ls'" in missing.output


def test_method_command_groups_are_mounted_but_loaded_only_when_used():
    code = (
        "import sys; from click.testing import CliRunner; from agents.cli import cli\n"
        "assert 'methods.dsdl.cli' not in sys.modules\n"
        "out = CliRunner().invoke(cli, ['dsdl', 'template'])\n"
        "assert out.exit_code == 0, out.output\n"
        "print(out.output)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "detection" in out.stdout.lower()
