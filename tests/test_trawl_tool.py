"""The trawl.extract_knowledge, trawl.train and trawl.recommend tools, and the example task."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tools import ToolArgumentsError, ToolError, call

SMALL = {"dataset": "synthetic", "max_users": 120, "epochs": 15, "adapter_epochs": 20}

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # module fixtures run before the function-scoped one_thread
    out = tmp_path_factory.mktemp("trawl")
    result = call("trawl.train", SMALL, artifact_dir=out)
    torch.set_num_threads(threads)
    return result, out


def test_train_reports_warm_and_cold_metrics_with_a_plot(trained):
    from PIL import Image

    result, out = trained
    systems = {(m.system, m.items) for m in result.metrics}
    assert systems == {
        ("backbone", "warm"),
        ("trawl", "warm"),
        ("pure CF", "cold"),
        ("kNN", "cold"),
        ("trawl", "cold"),
    }
    assert all(0 <= m.recall <= 1 and 0 <= m.ndcg <= 1 for m in result.metrics)
    assert "cold Recall@20" in result.summary and "pure CF" in result.summary
    assert {p.name for p in result.artifacts} == {
        "recall_warm_cold.png",
        "trawl_metrics.json",
        "trawl_model.pt",
    }
    with Image.open(out / "trawl" / "recall_warm_cold.png") as img:
        assert img.format == "PNG" and img.width > 300
    saved = json.loads((out / "trawl" / "trawl_metrics.json").read_text())
    assert saved["metrics"]["trawl_cold"]["recall@20"] == next(
        m.recall for m in result.metrics if m.system == "trawl" and m.items == "cold"
    )


def test_recommend_returns_unseen_items_with_their_knowledge(trained, tmp_path):
    result, _ = trained
    rec = call(
        "trawl.recommend",
        {"model_path": str(result.model_path), "user": 3, "k": 5},
        artifact_dir=tmp_path,
    )
    assert len(rec.items) == 5 and rec.user == 3
    assert all(r.knowledge.startswith(r.title) for r in rec.items)
    scores = [r.score for r in rec.items]
    assert scores == sorted(scores, reverse=True)
    cold = call(
        "trawl.recommend",
        {"model_path": str(result.model_path), "user": 3, "k": 5, "cold_only": True},
        artifact_dir=tmp_path,
    )
    assert all(r.cold for r in cold.items)
    assert (tmp_path / "trawl" / "recommend_user3.json").is_file()


def test_extract_knowledge_on_movielens_items(tmp_path):
    result = call(
        "trawl.extract_knowledge", {"dataset": "ml-100k", "items": [0, 1]}, artifact_dir=tmp_path
    )
    assert [r.title for r in result.items] == ["Toy Story", "GoldenEye"]
    assert "Era: mid-1990s" in result.items[0].knowledge
    assert result.failures == 0 and (tmp_path / "trawl" / "knowledge_keyfactor.json").is_file()


def test_llm_extraction_uses_the_context_model_and_caches(tmp_path):
    from tests.test_trawl import GOOD, ScriptedLLM

    llm = ScriptedLLM([GOOD])
    args = {"dataset": "synthetic", "extractor": "llm", "items": [4]}
    first = call("trawl.extract_knowledge", args, artifact_dir=tmp_path, chat_model=llm)
    again = call("trawl.extract_knowledge", args, artifact_dir=tmp_path, chat_model=llm)
    assert "Theme: heists" in first.items[0].knowledge and first.cached == 0
    assert again.cached == 1 and llm.calls == 1


def test_bad_tool_arguments_name_the_argument(tmp_path):
    with pytest.raises(ToolArgumentsError, match="backbone"):
        call("trawl.train", {"backbone": "svd"}, artifact_dir=tmp_path)
    with pytest.raises(ToolArgumentsError, match="dataset"):
        call("trawl.train", {"dataset": "ml-1m"}, artifact_dir=tmp_path)
    with pytest.raises(ToolError, match="items must lie in"):
        call("trawl.extract_knowledge", {"items": [5000]}, artifact_dir=tmp_path)
    with pytest.raises(ToolError, match="needs a chat model"):
        call("trawl.extract_knowledge", {"extractor": "llm"}, artifact_dir=tmp_path)
    with pytest.raises(ToolError, match="does not exist"):
        call("trawl.recommend", {"model_path": str(tmp_path / "none.pt")}, artifact_dir=tmp_path)


def test_recommend_rejects_an_unknown_user(trained, tmp_path):
    result, _ = trained
    with pytest.raises(ToolError, match="user must be below 120"):
        call(
            "trawl.recommend",
            {"model_path": str(result.model_path), "user": 500},
            artifact_dir=tmp_path,
        )


@pytest.mark.model
def test_trawl_task_completes_with_the_embedded_model(run_example_task):
    result, _ = run_example_task("trawl")
    assert (result.run_dir / "artifacts" / "trawl" / "recall_warm_cold.png").is_file()


def test_readme_example_runs():
    readme = (
        Path(__file__).resolve().parent.parent / "methods" / "trawl" / "README.md"
    ).read_text()
    code = readme.split("```python\n", 1)[1].split("```", 1)[0]
    exec(compile(code, "methods/trawl/README.md", "exec"), {})
