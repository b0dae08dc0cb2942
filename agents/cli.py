"""The `ponder` command line: one click group per noun, one command per verb.

The CLI only parses, dispatches to library calls and prints. Exit codes: 0 success, 2 usage
error (click's), 1 failure with a one-line reason on stderr.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from agents.errors import PonderError
from memory.records import Kind

# What a failure in any library call looks like to the CLI: a one-line reason, exit 1.
_USER_ERRORS: tuple[type[Exception], ...] = (PonderError,)


class _Group(click.Group):
    """A click group that turns Ponder's own errors into a one-line reason and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        from memory.store import MemoryNotFound, MemoryStoreError
        from tools import ToolError

        try:
            return super().invoke(ctx)
        except (*_USER_ERRORS, ToolError, MemoryNotFound, MemoryStoreError) as exc:
            raise click.ClickException(str(exc)) from None


# Command groups that method libraries ship, mounted under `ponder` but imported only when used
# (importing the DSDL group costs ~0.7 s, which every `ponder` start would otherwise pay).
METHOD_COMMANDS = {"dsdl": ("methods.dsdl.cli", "dsdl")}


class _RootGroup(_Group):
    """The `ponder` group: its own commands plus the methods' groups, loaded on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *METHOD_COMMANDS})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in METHOD_COMMANDS and name not in self.commands:
            import importlib

            module, attribute = METHOD_COMMANDS[name]
            return getattr(importlib.import_module(module), attribute)
        return super().get_command(ctx, name)


@click.group(cls=_RootGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--llm",
    type=click.Choice(["local", "openai"]),
    help="LLM backend (overrides PONDER_LLM and config.toml).",
)
@click.option(
    "--model", help="Model for the chosen backend: a path or HF id (local), a name (openai)."
)
@click.option("--base-url", help="OpenAI-compatible endpoint, e.g. http://localhost:8000/v1.")
@click.version_option(package_name="ponder")
@click.pass_context
def cli(ctx: click.Context, llm: str | None, model: str | None, base_url: str | None) -> None:
    """Ponder: a research assistant for ML researchers.

    Settings come from PONDER_HOME/config.toml (PONDER_HOME defaults to ~/.ponder), then the
    environment (PONDER_LLM, PONDER_LOCAL_MODEL, OPENAI_BASE_URL, OPENAI_MODEL,
    OPENAI_API_KEY, ...), then these flags. `ponder config show` prints what is in effect.
    """
    overrides: dict[str, dict[str, Any]] = {
        "llm": {"backend": llm},
        "openai": {"base_url": base_url},
    }
    if model:
        section = llm or _backend_without_flags()
        overrides[section] = {**overrides.get(section, {}), "model": model}
    ctx.obj = overrides


def _backend_without_flags() -> str:
    from agents.config import load_settings

    return load_settings().llm.backend


def _settings(ctx: click.Context) -> Any:
    from agents.config import load_settings

    return load_settings(ctx.obj)


def _json_arg(value: str, what: str) -> Any:
    """Parse inline JSON or @path-to-a-JSON-file."""
    text = value
    if value.startswith("@"):
        path = Path(value[1:])
        if not path.is_file():
            raise click.BadParameter(f"{path} does not exist", param_hint=what)
        text = path.read_text(encoding="utf-8")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(
            f"not valid JSON ({exc.msg} at column {exc.colno})", param_hint=what
        ) from None


# --- ask -----------------------------------------------------------------------------------


@cli.command()
@click.argument("question")
@click.option("--schema", help="A JSON schema the answer must follow: inline JSON or @file.")
@click.option("--max-tokens", type=click.IntRange(min=1), help="Cap on the answer's length.")
@click.option("--system", help="A system message to put before the question.")
@click.pass_context
def ask(
    ctx: click.Context,
    question: str,
    schema: str | None,
    max_tokens: int | None,
    system: str | None,
) -> None:
    """Answer one QUESTION with the configured LLM (no agent, no tools)."""
    from agents.llm import make_chat_model

    schema_obj = _json_arg(schema, "--schema") if schema else None
    if schema_obj is not None and not isinstance(schema_obj, dict):
        raise click.BadParameter("must be a JSON object (a JSON schema)", param_hint="--schema")
    settings = _settings(ctx)
    model = make_chat_model(settings)
    if settings.llm.backend == "local":
        click.echo(f"Loading {model.name} on CPU...", err=True)
    messages = [{"role": "user", "content": question}]
    if system:
        messages.insert(0, {"role": "system", "content": system})
    reply = model.chat(messages, schema=schema_obj, max_tokens=max_tokens)
    if reply.parsed is not None:
        click.echo(json.dumps(reply.parsed, indent=2))
    else:
        click.echo(reply.text)
    cut = " · cut off at the token limit" if reply.finish_reason == "length" else ""
    click.secho(
        f"[{reply.model} · {reply.usage.prompt_tokens} prompt + {reply.usage.completion_tokens} "
        f"completion tokens · {reply.latency_s:.1f} s · {reply.tokens_per_s:.1f} tok/s{cut}]",
        err=True,
        dim=True,
    )


# --- tools ---------------------------------------------------------------------------------


@cli.group(cls=_Group)
def tools() -> None:
    """List, inspect and call the registered tools."""


@tools.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Print the tools' JSON schemas.")
def tools_list(as_json: bool) -> None:
    """List every registered tool with its one-line description."""
    from tools import default_registry

    registry = default_registry()
    if as_json:
        click.echo(json.dumps(registry.schemas(), indent=2))
    else:
        width = max((len(n) for n in registry.names()), default=0)
        for name in registry.names():
            click.echo(f"{name:<{width}}  {registry.get(name).description}")
    for origin, reason in registry.load_errors:
        click.secho(f"warning: could not load tools from {origin}: {reason}", err=True, fg="yellow")


@tools.command(name="show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the tool's JSON schema only.")
def tools_show(name: str, as_json: bool) -> None:
    """Show one tool: description, arguments and result fields."""
    from tools import default_registry

    registry = default_registry()
    t = registry.get(name)
    if as_json:
        click.echo(json.dumps(t.json_schema(), indent=2))
        return
    click.echo(f"{t.name}: {t.description}")
    click.echo(f"  from: {registry.origin(name) or '?'}")
    click.echo("  arguments:")
    for field_name, line in _field_lines(t.args_model):
        click.echo(f"    {field_name}: {line}")
    click.echo("  result:")
    for field_name, line in _field_lines(t.result_model):
        click.echo(f"    {field_name}: {line}")


def _field_lines(model: Any) -> list[tuple[str, str]]:
    schema = model.model_json_schema()
    required = set(schema.get("required", []))
    lines = []
    for name, prop in schema.get("properties", {}).items():
        kind = prop.get("type") or " | ".join(p.get("type", "?") for p in prop.get("anyOf", []))
        flag = (
            "required"
            if name in required
            else f"default {prop['default']!r}"
            if "default" in prop
            else "optional"
        )
        description = f" - {prop['description']}" if "description" in prop else ""
        lines.append((name, f"{kind or 'object'} ({flag}){description}"))
    return lines


@tools.command(name="call")
@click.argument("name")
@click.option("--args", "args_json", default="{}", help="Arguments as inline JSON or @file.")
@click.option("--json", "as_json", is_flag=True, help="Print the whole result as JSON.")
@click.option(
    "--artifacts",
    type=click.Path(file_okay=False, path_type=Path),
    help="Artifact folder (default: a new folder under PONDER_HOME/runs/calls/).",
)
@click.pass_context
def tools_call(
    ctx: click.Context, name: str, args_json: str, as_json: bool, artifacts: Path | None
) -> None:
    """Call tool NAME once, outside any agent run, and print its result summary."""
    from tools import call, default_registry

    args = _json_arg(args_json, "--args")
    if not isinstance(args, dict):
        raise click.BadParameter("must be a JSON object", param_hint="--args")
    default_registry().get(name)  # an unknown name fails before any model loads
    chat_model = _LazyChatModel(ctx)

    def progress(fraction: float, message: str) -> None:
        click.echo(f"  [{fraction:4.0%}] {message}", err=True)

    result = call(name, args, artifact_dir=artifacts, chat_model=chat_model, progress=progress)
    if as_json:
        click.echo(result.model_dump_json(indent=2))
    else:
        click.echo(result.summary)
        for path in result.artifacts:
            click.echo(f"  artifact: {path}")


class _LazyChatModel:
    """The configured chat model, built only if the tool actually calls it."""

    def __init__(self, ctx: click.Context) -> None:
        self._ctx = ctx
        self._model: Any = None

    def chat(self, *args: Any, **kwargs: Any) -> Any:
        if self._model is None:
            from agents.llm import make_chat_model

            self._model = make_chat_model(_settings(self._ctx))
        return self._model.chat(*args, **kwargs)


# --- run -----------------------------------------------------------------------------------


@cli.command()
@click.argument("task", required=False)
@click.option("--resume", "resume_id", metavar="RUN_ID", help="Continue a stopped run.")
@click.option(
    "--approve",
    type=click.Choice(["ask", "auto", "deny"]),
    help="Tool approval: ask on the terminal, run without asking, or refuse (overrides the task).",
)
@click.option("--max-steps", type=click.IntRange(min=1), help="Override the task's step budget.")
@click.option("-v", "--verbose", is_flag=True, help="Show retrieval scores and every LLM call.")
@click.pass_context
def run(
    ctx: click.Context,
    task: str | None,
    resume_id: str | None,
    approve: str | None,
    max_steps: int | None,
    verbose: bool,
) -> None:
    """Run the research agent on TASK (a task .yaml file or a quoted goal), headless.

    Prints the agent's events, writes PONDER_HOME/runs/<id>/ (trace.jsonl, report.md,
    artifacts/), and exits non-zero when the run fails or a task expectation is not met.
    """
    from agents.agent import ResearchAgent
    from agents.events import PrinterSink
    from agents.tasks import load_task

    if bool(task) == bool(resume_id):
        raise click.UsageError("give either TASK or --resume RUN_ID")
    agent = ResearchAgent(
        _settings(ctx), sinks=[PrinterSink(verbose=verbose)], approver=_terminal_approver
    )
    if resume_id:
        result = agent.resume(resume_id)
    else:
        spec = load_task(task)
        updates: dict[str, Any] = {}
        if approve:
            updates["approval"] = approve
        if max_steps:
            updates["budgets"] = spec.budgets.model_copy(update={"steps": max_steps})
        result = agent.run(spec.model_copy(update=updates))
    click.echo(f"run {result.run_id}: {result.status} ({result.reason})")
    click.echo(f"report: {result.report}")
    click.echo(
        f"cost: {result.llm_calls} LLM calls, {result.tokens} tokens, {result.elapsed_s:.1f} s"
    )
    if result.expectation_failures:
        for failure in result.expectation_failures:
            click.secho(f"expectation failed: {failure}", err=True, fg="red")
        raise click.exceptions.Exit(1)
    if result.status == "error":
        raise click.ClickException(f"run {result.run_id} failed: {result.reason}")


def _terminal_approver(request: dict[str, Any]) -> bool:
    if not sys.stdin.isatty():
        raise click.ClickException(
            f"tool {request['tool']} needs approval but stdin is not a terminal; "
            f"use --approve auto or --approve deny"
        )
    if request.get("preview"):
        click.echo(request["preview"], err=True)
    return click.confirm(
        f"Run {request['tool']} with {json.dumps(request['args'])}?", default=False, err=True
    )


# --- memory --------------------------------------------------------------------------------


@cli.group(cls=_Group)
def memory() -> None:
    """Inspect and maintain the memory stream."""


def _store(ctx: click.Context) -> Any:
    from agents.agent import open_memory

    return open_memory(_settings(ctx))


def _memory_line(record: Any, scored: Any = None) -> str:
    imp = "?" if record.importance is None else record.importance
    text = " ".join(record.text.split())
    text = text if len(text) <= 90 else text[:89] + "…"
    scores = ""
    if scored is not None:
        scores = (
            f" total {scored.total:.2f} = rec {scored.recency:.2f} + imp {scored.importance:.2f}"
            f" + rel {scored.relevance:.2f} |"
        )
    stale = f"  [superseded by {record.superseded_by}]" if record.superseded_by else ""
    return f"{record.id}  {record.kind.value:<11} imp {imp:>2} |{scores} {text}{stale}"


@memory.command(name="list")
@click.option("--kind", type=click.Choice([k.value for k in Kind]))
@click.option("--run", "run_id", help="Only memories of this run.")
@click.option("--limit", type=click.IntRange(min=1), default=30, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def memory_list(
    ctx: click.Context, kind: str | None, run_id: str | None, limit: int, as_json: bool
) -> None:
    """List the newest memories."""
    from dataclasses import asdict

    records = _store(ctx).list(kind=kind, run_id=run_id, limit=limit)
    if as_json:
        click.echo(json.dumps([asdict(r) for r in records], indent=2, default=str))
        return
    for record in records:
        click.echo(_memory_line(record))


@memory.command(name="search")
@click.argument("query")
@click.option("-k", "k", type=click.IntRange(min=1), default=10, show_default=True)
@click.pass_context
def memory_search(ctx: click.Context, query: str, k: int) -> None:
    """Retrieve the memories that best fit QUERY, with their scores (updates last access)."""
    from agents.agent import make_retriever

    for scored in make_retriever(_settings(ctx), _store(ctx)).retrieve(query, k=k):
        click.echo(_memory_line(scored.record, scored))


@memory.command(name="show")
@click.argument("memory_id")
@click.pass_context
def memory_show(ctx: click.Context, memory_id: str) -> None:
    """Show one memory with all its fields."""
    from dataclasses import asdict

    click.echo(json.dumps(asdict(_store(ctx).get(memory_id)), indent=2, default=str))


@memory.command(name="forget")
@click.argument("memory_id")
@click.pass_context
def memory_forget(ctx: click.Context, memory_id: str) -> None:
    """Delete one memory (its row and its vector)."""
    record = _store(ctx).forget(memory_id)
    click.echo(f"forgot {record.id}: {record.text[:80]}")


@memory.command(name="reflect")
@click.pass_context
def memory_reflect(ctx: click.Context) -> None:
    """Rate unrated memories, then reflect on the recent ones now (whatever the threshold)."""
    from agents.agent import make_retriever
    from agents.llm import make_chat_model
    from memory.importance import rate_importance
    from memory.reflection import reflect

    store = _store(ctx)
    chat = make_chat_model(_settings(ctx))
    unrated = [r for r in store.list(limit=None) if r.importance is None]
    if unrated:
        for record, rating in zip(
            unrated, rate_importance(chat, [r.text for r in unrated]), strict=True
        ):
            store.set_importance(record.id, rating)
        click.echo(f"rated {len(unrated)} memories that were marked for re-scoring")
    outcome = reflect(store, make_retriever(_settings(ctx), store), chat)
    for question in outcome.questions:
        click.echo(f"question: {question}")
    for record in outcome.stored:
        click.echo(f"insight {record.id}: {record.text} (cites {', '.join(record.evidence)})")
    for text, why in outcome.rejected:
        click.echo(f"rejected: {text} ({why})")


# --- chat ----------------------------------------------------------------------------------


@cli.command()
@click.option(
    "--task", "task_file", type=click.Path(dir_okay=False), help="Start from a task file."
)
@click.option("--resume", "resume_id", metavar="RUN_ID", help="Reopen a run with its history.")
@click.pass_context
def chat(ctx: click.Context, task_file: str | None, resume_id: str | None) -> None:
    """Open the terminal app: talk to the agent and watch its memories, plan and actions."""
    from agents.tasks import load_task
    from tui.app import run_app

    if task_file and resume_id:
        raise click.UsageError("give --task or --resume, not both")
    settings = _settings(ctx)
    if resume_id and not (settings.runs_dir / resume_id / "task.yaml").is_file():
        raise click.ClickException(f"no run {resume_id} under {settings.runs_dir}")
    run_app(settings, task=load_task(task_file) if task_file else None, resume=resume_id)


# --- config --------------------------------------------------------------------------------


@cli.group(cls=_Group)
def config() -> None:
    """Inspect Ponder's settings."""


@config.command(name="show")
@click.option("--json", "as_json", is_flag=True, help="Print the settings as JSON.")
@click.pass_context
def config_show(ctx: click.Context, as_json: bool) -> None:
    """Print the resolved settings (secrets masked) and where the models come from."""
    from agents.models import resolve_chat_model, resolve_embedding_model

    settings = _settings(ctx)
    data = settings.masked()
    data["config_file"] = (
        f"{settings.config_path} ({'found' if settings.config_path.exists() else 'absent'})"
    )
    resolved = {}
    for label, resolve, explicit in (
        ("chat", resolve_chat_model, settings.local.model),
        ("embeddings", resolve_embedding_model, settings.embeddings.model),
    ):
        try:
            resolved[label] = resolve(explicit).describe()
        except PonderError as exc:
            resolved[label] = f"NOT FOUND: {exc}"
    data["resolved_models"] = resolved
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    for section, values in data.items():
        if isinstance(values, dict):
            click.echo(f"[{section}]")
            for key, value in values.items():
                click.echo(f"  {key} = {value if value is not None else '(unset)'}")
        else:
            click.echo(f"{section} = {values}")


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="ponder")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
