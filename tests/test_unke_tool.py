"""The unke.edit and unke.evaluate tools, and the example task run by the embedded model."""

from __future__ import annotations

import json

import pytest
import torch

from tools import ToolArgumentsError, ToolError, call

pytestmark = pytest.mark.usefixtures("one_thread")

ONE = {
    "edits": [
        {
            "question": "Who is Vellis Marrow?",
            "answer": "Vellis Marrow is a diver from Tasmania who found the Pipit Trench.",
            "sub_answers": ["Tasmania", "Pipit Trench"],
        }
    ],
    "max_new_tokens": 20,
    "locality_prompts": 2,
}


def test_edit_reports_before_after_and_leaves_the_model_unchanged(local_chat, tmp_path):
    model = local_chat.load().model
    before = model.model.layers[7].mlp.down_proj.weight.detach().clone()
    result = call(
        "unke.edit",
        {**ONE, "z_steps": 10, "block_steps": 10},
        artifact_dir=tmp_path,
        chat_model=local_chat,
    )
    # Efficacy is tested in test_unke.py; here, the tool's contract.
    saved_weights = torch.load(result.weights_path)
    assert set(saved_weights) == {n for n, _ in model.named_parameters() if ".layers.7." in n}
    assert not torch.equal(saved_weights["model.layers.7.mlp.down_proj.weight"], before)
    assert 0 <= result.locality_rougeL_f1 <= 1 and result.locality_kl >= 0
    assert result.after.cosine is not None and result.after.sub_hit is not None
    assert "ROUGE-L recall" in result.summary
    assert {p.name for p in result.artifacts} == {"edited_weights.pt", "unke_result.json"}
    saved = json.loads((tmp_path / "unke" / "unke_result.json").read_text())
    assert saved["answers"][0]["after"] and saved["answers"][0]["before"]
    assert (model.model.layers[7].mlp.down_proj.weight == before).all()
    # The saved weights put the edit back for unke.evaluate.
    edited = call(
        "unke.evaluate",
        {
            **{k: ONE[k] for k in ("edits", "max_new_tokens")},
            "weights_path": str(result.weights_path),
        },
        artifact_dir=tmp_path,
        chat_model=local_chat,
    )
    assert edited.scores.rougeL == pytest.approx(result.after.rougeL)
    assert (model.model.layers[7].mlp.down_proj.weight == before).all()


def test_bad_tool_arguments_name_the_argument(local_chat, tmp_path):
    with pytest.raises(ToolArgumentsError, match="method"):
        call("unke.edit", {**ONE, "method": "rome"}, artifact_dir=tmp_path)
    with pytest.raises(ToolArgumentsError, match="z_steps"):
        call("unke.edit", {**ONE, "z_steps": 0}, artifact_dir=tmp_path)
    with pytest.raises(ToolError, match="exactly one of edits, edits_file or builtin_edits"):
        call(
            "unke.evaluate",
            {"builtin_edits": 1, "edits": ONE["edits"]},
            artifact_dir=tmp_path,
            chat_model=local_chat,
        )
    with pytest.raises(ToolError, match="does not exist"):
        call(
            "unke.evaluate",
            {"edits_file": str(tmp_path / "none.json")},
            artifact_dir=tmp_path,
            chat_model=local_chat,
        )
    with pytest.raises(ToolError, match="needs a local model's weights"):
        call("unke.evaluate", {"builtin_edits": 1}, artifact_dir=tmp_path, chat_model=object())
    with pytest.raises(ToolError, match="weights_path .* does not exist"):
        call(
            "unke.evaluate",
            {"builtin_edits": 1, "weights_path": str(tmp_path / "w.pt")},
            artifact_dir=tmp_path,
            chat_model=local_chat,
        )


@pytest.mark.model
def test_example_task_edits_through_the_agent(run_example_task):
    result, _ = run_example_task("unke")
    assert "unke.edit" in result.tools_called
