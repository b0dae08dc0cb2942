"""The widin.train and widin.embed tools, and the example task run by the embedded model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tools import ToolArgumentsError, ToolError, call

SMALL = {
    "targets": ["inverted"],
    "simclr_epochs": 1,
    "wording_steps": 4,
    "head_epochs": 15,
}

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("widin")
    return call("widin.train", SMALL, artifact_dir=out), out


def test_train_reports_every_domain_against_the_probes(trained):
    result, out = trained
    assert [r.domain for r in result.domains] == ["clean", "inverted"]
    assert set(result.mean_target) == {"linear", "mlp", "widin", "widin_no_ia"}
    assert result.encoder == "unimodal" and result.domains[0].zero_shot is None
    assert "linear probe" in result.summary and "unseen domains" in result.summary
    names = {p.name for p in result.artifacts}
    assert names == {"accuracy_by_domain.png", "widin_result.json", "widin_model.pt"}
    saved = json.loads((out / "widin" / "widin_result.json").read_text())
    assert saved["accuracy"]["widin"]["clean"] == result.domains[0].widin


def test_clip_encoder_adds_the_zero_shot_baseline(tmp_path):
    result = call(
        "widin.train", {**SMALL, "encoder": "clip", "clip_epochs": 1}, artifact_dir=tmp_path
    )
    assert result.encoder == "clip" and "Zero-shot" in result.summary
    assert set(result.mean_target) == {"linear", "mlp", "zero_shot", "widin", "widin_no_ia"}
    assert all(row.zero_shot is not None for row in result.domains)
    saved = json.loads((tmp_path / "widin" / "widin_result.json").read_text())
    assert saved["args"]["encoder"] == "clip"
    assert saved["accuracy"]["zero_shot"]["inverted"] == result.domains[1].zero_shot


def test_plot_is_a_png(trained):
    from PIL import Image

    _, out = trained
    with Image.open(out / "widin" / "accuracy_by_domain.png") as img:
        assert img.format == "PNG" and img.width > 200


def test_embed_writes_one_vector_per_image(trained, tmp_path):
    from PIL import Image

    result, _ = trained
    folder = tmp_path / "imgs" / "sub"
    folder.mkdir(parents=True)
    for i in range(3):
        Image.fromarray(np.full((20, 20, 3), 40 * i, np.uint8)).save(folder / f"{i}.png")
    out = tmp_path / "out"
    ev = call(
        "widin.embed",
        {"model_path": str(result.model_path), "folder": str(tmp_path / "imgs")},
        artifact_dir=out,
    )
    assert ev.n_images == 3 and ev.dim == 384
    saved = np.load(ev.embeddings_path)
    assert saved["embeddings"].shape == (3, 384) and len(saved["files"]) == 3


def test_bad_tool_arguments_name_the_argument(tmp_path):
    with pytest.raises(ToolArgumentsError, match="source"):
        call("widin.train", {"source": "photo"}, artifact_dir=tmp_path)
    with pytest.raises(ToolArgumentsError, match="encoder"):
        call("widin.train", {"encoder": "openclip"}, artifact_dir=tmp_path)
    with pytest.raises(ToolError, match="targets must name a domain other than"):
        call("widin.train", {**SMALL, "targets": ["clean"]}, artifact_dir=tmp_path)
    with pytest.raises(ToolArgumentsError, match="targets"):
        call("widin.train", {"targets": ["noisy"] * 6}, artifact_dir=tmp_path)


def test_train_names_a_bad_embedding_model_setting(tmp_path, monkeypatch):
    monkeypatch.setenv("PONDER_EMBEDDING_MODEL", str(tmp_path))
    with pytest.raises(ToolError, match="PONDER_EMBEDDING_MODEL"):
        call("widin.train", SMALL, artifact_dir=tmp_path)
    with pytest.raises(ToolError, match="does not exist"):
        call(
            "widin.embed",
            {"model_path": str(tmp_path / "none.pt"), "folder": str(tmp_path)},
            artifact_dir=tmp_path,
        )


def test_embed_rejects_a_folder_without_images(trained, tmp_path):
    result, _ = trained
    with pytest.raises(ToolError, match="holds no images"):
        call(
            "widin.embed",
            {"model_path": str(result.model_path), "folder": str(tmp_path)},
            artifact_dir=tmp_path / "out",
        )


@pytest.mark.model
def test_widin_task_completes_with_the_embedded_model(run_example_task):
    result, _ = run_example_task("widin")
    assert (result.run_dir / "artifacts" / "widin" / "accuracy_by_domain.png").is_file()


def test_readme_example_runs():
    readme = (
        Path(__file__).resolve().parent.parent / "methods" / "widin" / "README.md"
    ).read_text()
    code = readme.split("```python\n", 1)[1].split("```", 1)[0]
    exec(compile(code, "methods/widin/README.md", "exec"), {})
