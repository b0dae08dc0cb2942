"""Occupancy networks library: exact shapes, MISE, metrics, decoder, training, bad inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from methods.occupancy import (
    CBatchNorm1d,
    Grid,
    Mesh,
    ModelConfig,
    OccupancyModel,
    Primitive,
    RefineConfig,
    Shape,
    ShapeSet,
    TrainConfig,
    check_observation,
    count_parameters,
    dense_grid,
    evaluate,
    evaluate_model,
    extract_mesh,
    field_scores,
    iou,
    load,
    load_observation,
    logit,
    matched_grid_config,
    mise,
    model_field,
    occupancy_loss,
    oracle_iou,
    preview,
    random_shapes,
    reconstruct,
    refine_mesh,
    render,
    save,
    sphere_shape,
    surface_distances,
    train,
    voxelize,
    write_obj,
    write_ply,
)

pytestmark = pytest.mark.usefixtures("one_thread")


def test_every_primitive_samples_its_own_zero_set_with_unit_normals():
    rng = np.random.default_rng(0)
    for prim in (
        Primitive("sphere", (0.3,)),
        Primitive("box", (0.1, 0.2, 0.3)),
        Primitive("cylinder", (0.1, 0.3)),
        Primitive("torus", (0.25, 0.05)),
        Primitive("capsule", (0.1, 0.2)),
    ):
        pts, nrm = prim.sample_surface(2000, rng)
        assert np.abs(prim.sdf(pts)).max() < 1e-9, prim.kind
        assert np.allclose(np.linalg.norm(nrm, axis=1), 1), prim.kind
        # The outward normal points to where the SDF grows.
        assert (prim.sdf(pts + 1e-3 * nrm) > 0).all(), prim.kind


def test_sphere_surface_samples_are_area_uniform_over_a_union():
    # Two disjoint equal spheres: half of the samples land on each.
    a = Primitive("sphere", (0.1,), center=np.array([-0.2, 0, 0]))
    b = Primitive("sphere", (0.1,), center=np.array([0.2, 0, 0]))
    pts, _ = Shape((a, b)).sample_surface(4000, np.random.default_rng(1))
    assert abs((pts[:, 0] < 0).mean() - 0.5) < 0.05


def test_union_surface_drops_points_inside_other_primitives():
    a = Primitive("sphere", (0.2,))
    b = Primitive("sphere", (0.2,), center=np.array([0.15, 0, 0]))
    shape = Shape((a, b))
    pts, _ = shape.sample_surface(3000, np.random.default_rng(2))
    assert np.abs(shape.sdf(pts)).max() < 1e-7


def test_random_shapes_fill_the_unit_cube_and_repeat_by_seed():
    shapes = random_shapes(6, seed=3)
    again = random_shapes(6, seed=3)
    rng = np.random.default_rng(0)
    for s, t in zip(shapes, again, strict=True):
        pts, _ = s.sample_surface(4000, rng)
        assert np.abs(pts).max() < 0.5
        assert 0.8 < (pts.max(0) - pts.min(0)).max() < 0.95
        assert np.allclose(s.sdf(pts), t.sdf(pts))


def test_mise_matches_dense_extraction_while_evaluating_few_points():
    shape = Shape((Primitive("torus", (0.3, 0.06)), Primitive("box", (0.1, 0.1, 0.3))))
    field = lambda p: -shape.sdf(p)  # noqa: E731
    fast, full = mise(field, 0.0, 16, 2), dense_grid(field, 64)
    assert fast.values.shape == full.values.shape == (65, 65, 65)
    assert iou(fast.values > 0, full.values > 0) > 0.99
    assert fast.evaluated < 0.3 * full.evaluated


def test_mise_without_refinement_is_the_coarse_grid():
    field = lambda p: -sphere_shape(0.3).sdf(p)  # noqa: E731
    grid = mise(field, 0.0, 8, 0)
    assert np.allclose(grid.values, dense_grid(field, 8).values)
    assert grid.evaluated == 9**3


def test_pipeline_on_an_exact_sphere_scores_near_perfect():
    sphere = sphere_shape(0.35)
    rec, s = field_scores(lambda p: -sphere.sdf(p), sphere, 0.0, seed=0, n_points=20_000)
    verts = rec.mesh.vertices
    assert np.abs(np.linalg.norm(verts, axis=1) - 0.35).max() < 1e-3
    assert s.iou > 0.99 and s.chamfer_l1 < 0.006 and s.normal_consistency > 0.99


def test_metrics_see_a_shifted_surface():
    sphere, moved = (
        sphere_shape(0.3),
        Shape((Primitive("sphere", (0.3,), center=np.full(3, 0.05)),)),
    )
    rng = np.random.default_rng(0)
    a, b = sphere.sample_surface(5000, rng), moved.sample_surface(5000, rng)
    acc, comp, nc = surface_distances(*a, *b)
    assert 0.04 < (acc + comp) / 2 < 0.09 and nc < 0.999
    assert iou(np.array([1, 1, 0], bool), np.array([1, 0, 0], bool)) == 0.5


def test_cbn_starts_as_plain_batch_norm_and_conditions_on_the_code():
    cbn = CBatchNorm1d(4, 8)
    x, c = torch.randn(2, 50, 8), torch.randn(2, 4)
    out = cbn(x, c)
    assert torch.allclose(out.mean((0, 1)), torch.zeros(8), atol=1e-5)
    torch.nn.init.normal_(cbn.gamma.weight)
    out = cbn(x, c)
    assert not torch.allclose(out[0].std(0), out[1].std(0))


def test_decoder_has_the_papers_shape_and_outputs_one_logit_per_point():
    model = OccupancyModel(ModelConfig(hidden=16, c_dim=8, encoder_hidden=8))
    assert len(model.decoder.blocks) == 5
    logits = model(torch.randn(3, 40, 3), torch.rand(3, 17, 3) - 0.5)
    assert logits.shape == (3, 17)


def test_grid_baseline_matches_the_parameter_count():
    config = ModelConfig(hidden=32, c_dim=32, encoder_hidden=32)
    onet, grid = OccupancyModel(config), OccupancyModel(matched_grid_config(config))
    assert abs(count_parameters(grid) / count_parameters(onet) - 1) < 0.2
    assert grid.decoder.grid(torch.randn(2, 32)).shape == (2, 32, 32, 32)


def test_grid_baseline_reads_the_cell_that_holds_each_point():
    model = OccupancyModel(ModelConfig(decoder="grid", c_dim=8, encoder_hidden=8))
    grid = torch.arange(32**3, dtype=torch.float32).view(1, 32, 32, 32)
    corner = torch.tensor([[[-0.549, -0.549, -0.549], [0.549, 0.549, 0.549]]])
    assert model.decoder.lookup(grid, corner).tolist() == [[0.0, 32**3 - 1.0]]


def test_loss_sums_over_points_and_averages_over_shapes():
    logits, target = torch.zeros(2, 10), torch.ones(2, 10)
    assert torch.isclose(
        occupancy_loss(logits, target), torch.tensor(10 * np.log(2.0), dtype=torch.float32)
    )


@pytest.fixture(scope="module")
def trained_pointcloud():
    torch.set_num_threads(1)
    data = ShapeSet(random_shapes(24, seed=5), "pointcloud", n_input_points=100)
    model = OccupancyModel(ModelConfig(hidden=32, c_dim=32, encoder_hidden=32))
    history = train(model, data, TrainConfig(steps=40, batch_size=8, points_per_shape=512))
    return model, data, history


def test_training_lowers_the_loss(trained_pointcloud):
    _, _, history = trained_pointcloud
    assert np.mean(history.losses[-10:]) < 0.8 * np.mean(history.losses[:3])


def test_reconstruct_and_checkpoint_round_trip(trained_pointcloud, tmp_path):
    model, data, _ = trained_pointcloud
    inputs = data.inputs(np.array([0]), np.random.default_rng(0))[0]
    path = save(model, tmp_path / "m.pt")
    again = load(path)
    p = torch.rand(1, 64, 3) - 0.5
    c = inputs.unsqueeze(0)
    assert torch.allclose(model.eval()(c, p), again(c, p))
    rec = reconstruct(again, inputs, upsampling_steps=1)
    assert rec.grid.values.shape == (65, 65, 65)
    scores = evaluate(rec, data.shapes[0], n_points=2000)
    assert 0 <= scores.iou <= 1
    if rec.mesh is not None:
        assert write_ply(rec.mesh, tmp_path / "m.ply").read_bytes().startswith(b"ply\n")
        assert write_obj(rec.mesh, tmp_path / "m.obj").read_text().startswith("v ")
        png = preview(tmp_path / "p.png", inputs.numpy(), rec.mesh, data.shapes[0])
        assert png.read_bytes()[:4] == b"\x89PNG"


def test_evaluating_the_first_shapes_matches_the_full_evaluation(trained_pointcloud):
    model, data, _ = trained_pointcloud
    full = evaluate_model(model, data, 2000, count=3)
    first = evaluate_model(model, data, 2000, count=1)
    assert len(full.per_shape) == 3 and first.per_shape[0] == full.per_shape[0]
    with pytest.raises(ValueError, match="count"):
        evaluate_model(model, data, 2000, count=0)


def test_voxel_and_image_models_train_a_step():
    shapes = random_shapes(4, seed=6)
    for task in ("voxels", "image"):
        data = ShapeSet(shapes, task)
        model = OccupancyModel(ModelConfig(task=task, hidden=16, c_dim=16, encoder_hidden=16))
        history = train(model, data, TrainConfig(steps=2, batch_size=2, points_per_shape=64))
        assert len(history.losses) == 2 and np.isfinite(history.losses).all()


def test_refinement_pulls_a_noisy_mesh_onto_the_level_set_and_fixes_its_normals():
    radius, sharpness, threshold = 0.35, 50.0, 0.2
    level = logit(threshold)
    sphere = sphere_shape(radius)
    mesh = extract_mesh(mise(lambda p: -sharpness * sphere.sdf(p), level, 16, 0), level)
    noisy = Mesh(
        mesh.vertices + np.random.default_rng(0).normal(0, 0.004, mesh.vertices.shape),
        mesh.faces,
    )
    level_radius = radius - level / sharpness  # where sigmoid(field) = threshold

    def field(points: torch.Tensor) -> torch.Tensor:
        return -sharpness * (points.norm(dim=-1) - radius)

    def off_surface(m: Mesh) -> float:
        return float(np.abs(np.linalg.norm(m.vertices, axis=1) - level_radius).mean())

    def inward_alignment(m: Mesh) -> float:  # +1 when every face normal points up the field
        _, normals = m.face_areas_normals()
        centres = m.vertices[m.faces].mean(1)
        return float(-np.mean(np.sum(normals * centres, -1) / np.linalg.norm(centres, axis=1)))

    refined = refine_mesh(noisy, field, threshold, RefineConfig(steps=30, lr=3e-4))
    assert off_surface(refined) < 0.6 * off_surface(noisy)
    assert inward_alignment(noisy) < 0.9 < 0.99 < inward_alignment(refined)
    assert np.array_equal(refined.faces, noisy.faces)
    with pytest.raises(ValueError, match="threshold"):
        refine_mesh(noisy, field, 1.5)
    with pytest.raises(ValueError, match="steps"):
        RefineConfig(steps=-1)
    grid = OccupancyModel(matched_grid_config(ModelConfig(hidden=16, c_dim=16, encoder_hidden=16)))
    with pytest.raises(ValueError, match="grid baseline"):
        model_field(grid, torch.zeros(300, 3))


def test_a_time_budget_ends_training_early_at_the_final_rate():
    data = ShapeSet(random_shapes(4, seed=6), "pointcloud", n_input_points=50)
    model = OccupancyModel(ModelConfig(hidden=16, c_dim=16, encoder_hidden=16))
    config = TrainConfig(steps=10**6, batch_size=2, points_per_shape=64, max_seconds=0.5)
    seen: list[float] = []
    history = train(model, data, config, lambda fraction, message: seen.append(fraction))
    assert 1 <= history.steps < 10**6 and history.seconds < 5
    assert seen[-1] == 1.0
    assert config.rate(0.0) == config.lr and config.rate(1.0) == pytest.approx(config.lr_final)
    assert config.progress(10, 0.25) == 0.5  # time is further along than steps
    with pytest.raises(ValueError, match="max_seconds"):
        TrainConfig(max_seconds=0)


def test_observations_have_the_expected_form():
    shape = sphere_shape(0.3)
    vox = voxelize(shape, 16)
    assert vox.shape == (16, 16, 16) and 0.05 < vox.mean() < 0.2
    img = render(shape, 16)
    assert img.shape == (16, 16) and img[8, 8] > 0 and img[0, 0] == 0


def test_oracle_is_below_one_for_thin_shapes():
    thin = Shape((Primitive("torus", (0.3, 0.02)),))
    assert oracle_iou([thin], 32, 20_000) < 0.9
    assert oracle_iou([sphere_shape(0.35)], 32, 20_000) > 0.9


def test_bad_inputs_name_the_argument(tmp_path):
    with pytest.raises(ValueError, match="kind"):
        Primitive("cone", (0.1,))
    with pytest.raises(ValueError, match="params"):
        Primitive("box", (0.1, 0.2))
    with pytest.raises(ValueError, match="points"):
        sphere_shape().sdf(np.zeros((4, 2)))
    with pytest.raises(ValueError, match="points"):
        sphere_shape().sdf(np.full((1, 3), np.nan))
    with pytest.raises(ValueError, match="task"):
        ModelConfig(task="audio")
    with pytest.raises(ValueError, match="shapes"):
        ShapeSet([], "pointcloud")
    with pytest.raises(ValueError, match="steps"):
        TrainConfig(steps=0)
    with pytest.raises(ValueError, match="threshold"):
        logit(1.5)
    with pytest.raises(ValueError, match="level"):
        extract_mesh(Grid(np.zeros((3, 3, 3), np.float32), -1.0, 1.0), 0.5)
    with pytest.raises(ValueError, match="field"):
        mise(lambda p: np.full(len(p), np.nan), 0.0, 4, 0)
    with pytest.raises(ValueError, match="observation"):
        check_observation(np.zeros((10, 2)), "pointcloud")
    with pytest.raises(ValueError, match="observation"):
        check_observation(np.full((5, 3), np.nan), "pointcloud")
    with pytest.raises(ValueError, match="predicted"):
        iou(np.zeros(3, bool), np.zeros(4, bool))
    with pytest.raises(FileNotFoundError, match="input_path"):
        load_observation(str(tmp_path / "missing.npy"), "pointcloud")
    with pytest.raises(FileNotFoundError, match="path"):
        load(tmp_path / "missing.pt")
    data = ShapeSet(random_shapes(2, seed=0), "pointcloud")
    with pytest.raises(ValueError, match="data"):
        train(OccupancyModel(ModelConfig(task="voxels")), data, TrainConfig(steps=1))
