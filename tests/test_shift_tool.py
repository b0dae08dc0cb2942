"""The circuits.probe_features and circuits.shift tools on the tiny biography LM, and the
example task run by the embedded model with a person's keep/ablate edits in the approval."""

from __future__ import annotations

import json

import pytest

from tools import ToolError, call

pytestmark = pytest.mark.usefixtures("one_thread")

SMALL = {
    "model": "tiny",
    "n_train": 40,
    "n_test": 12,
    "n_top": 8,
    "n_attribution": 12,
    "skylines": False,
}


@pytest.mark.usefixtures("module_home")
def test_features_then_shift_reuses_the_proposal_and_records_the_person(tmp_path):
    listed = call("circuits.probe_features", SMALL, artifact_dir=tmp_path)
    assert len(listed.features) == 8 and listed.judge == "lexicon"
    assert all(f.tokens for f in listed.features)
    saved = json.loads((tmp_path / "shift" / "features.json").read_text())
    assert [f["id"] for f in saved["features"]] == [f.id for f in listed.features]
    first = listed.features[0].id
    result = call("circuits.shift", {**SMALL, "ablate": [first]}, artifact_dir=tmp_path)
    assert first in result.ablated and "person" in result.decided_by
    assert [r.method for r in result.rows][:2] == ["Original", "Concept bottleneck"]
    assert "SHIFT ablated" in result.summary and "person" in result.summary
    table = json.loads((tmp_path / "shift" / "shift_table.json").read_text())
    assert {d["id"]: d["judge"] for d in table["decisions"]}[first] == "person"


@pytest.mark.usefixtures("module_home")
def test_shift_arguments_that_cannot_work_are_named(tmp_path):
    with pytest.raises(ToolError, match="labels"):
        call("circuits.shift", {**SMALL, "judge": "file"}, artifact_dir=tmp_path)
    with pytest.raises(ToolError, match="local model"):
        call("circuits.probe_features", {**SMALL, "model": "chat"}, artifact_dir=tmp_path)
    call("circuits.probe_features", SMALL, artifact_dir=tmp_path)
    with pytest.raises(ToolError, match="not among"):
        call("circuits.shift", {**SMALL, "keep": ["resid_0/9999"]}, artifact_dir=tmp_path)


def test_example_task_runs_shift_with_the_person_as_judge(local_chat, embedder):
    from agents.agent import ResearchAgent
    from agents.config import load_settings
    from agents.tasks import load_task
    from memory.store import MemoryStore
    from tests.conftest import EXAMPLE_TASKS

    settings = load_settings()
    requests = []

    def person(request):
        """Reads each feature's evidence in the approval's preview, then keeps the first feature
        the judge proposed to ablate and ablates the first it proposed to keep."""
        requests.append(request)
        rows = [line.split() for line in request["preview"].splitlines()[1:-1]]
        proposed = [row[0] for row in rows if row[3] == "ABLATE"]
        others = [row[0] for row in rows if row[3] == "keep"]
        assert all("top tokens:" in line for line in request["preview"].splitlines()[1:-1])
        return {"args": {**request["args"], "keep": proposed[:1], "ablate": others[:1]}}

    store = MemoryStore(settings.home / "memory", embedder)
    try:
        task = load_task(str(EXAMPLE_TASKS / "shift.yaml"))
        result = ResearchAgent(settings, chat=local_chat, store=store, approver=person).run(task)
    finally:
        store.close()
    assert result.status == "finished", result.reason
    assert result.ok, result.expectation_failures
    assert [r["tool"] for r in requests] == ["circuits.shift"]
    table = json.loads((result.run_dir / "artifacts" / "shift" / "shift_table.json").read_text())
    assert "person" in {d["judge"] for d in table["decisions"]}
