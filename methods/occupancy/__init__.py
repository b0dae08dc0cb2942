"""Occupancy Networks: 3D reconstruction as the decision boundary of a learned occupancy field.

    from methods.occupancy import (ModelConfig, OccupancyModel, ShapeSet, TrainConfig,
                                   random_shapes, reconstruct, evaluate, train)

    data = ShapeSet(random_shapes(200, seed=1), "pointcloud")
    model = OccupancyModel(ModelConfig(task="pointcloud"))
    train(model, data, TrainConfig(steps=200))
    rec = reconstruct(model, data.inputs([0], np.random.default_rng(0))[0])  # MISE + marching cubes
    print(evaluate(rec, data.shapes[0]))  # IoU, Chamfer-L1, normal consistency

Mescheder, Oechsle, Niemeyer, Nowozin & Geiger, CVPR 2019. See README.md for the benchmark.
"""

from methods.occupancy.data import Batch, ShapeSet
from methods.occupancy.experiment import (
    Evaluation,
    MiseCheck,
    evaluate_model,
    input_voxel_iou,
    mise_check,
    oracle_iou,
)
from methods.occupancy.export import preview, write_obj, write_ply
from methods.occupancy.metrics import Scores, iou, mean_scores, scores, surface_distances
from methods.occupancy.mise import Grid, Mesh, dense_grid, extract_mesh, logit, mise
from methods.occupancy.models import (
    DECODERS,
    TASKS,
    CBatchNorm1d,
    DecoderCBatchNorm,
    GridDecoder,
    ImageEncoder,
    ModelConfig,
    OccupancyModel,
    ResnetPointNet,
    VoxelEncoder,
    count_parameters,
    matched_grid_config,
)
from methods.occupancy.observe import (
    check_observation,
    load_observation,
    point_cloud,
    render,
    voxelize,
)
from methods.occupancy.reconstruct import (
    THRESHOLD,
    Reconstruction,
    evaluate,
    field_scores,
    network_field,
    reconstruct,
)
from methods.occupancy.refine import RefineConfig, model_field, refine_mesh
from methods.occupancy.shapes import (
    KINDS,
    Primitive,
    Shape,
    random_shape,
    random_shapes,
    sphere_shape,
    uniform_points,
)
from methods.occupancy.train import TrainConfig, TrainHistory, load, occupancy_loss, save, train

__all__ = [
    "DECODERS",
    "KINDS",
    "TASKS",
    "THRESHOLD",
    "Batch",
    "CBatchNorm1d",
    "DecoderCBatchNorm",
    "Evaluation",
    "Grid",
    "GridDecoder",
    "ImageEncoder",
    "Mesh",
    "MiseCheck",
    "ModelConfig",
    "OccupancyModel",
    "Primitive",
    "Reconstruction",
    "RefineConfig",
    "ResnetPointNet",
    "Scores",
    "Shape",
    "ShapeSet",
    "TrainConfig",
    "TrainHistory",
    "VoxelEncoder",
    "check_observation",
    "count_parameters",
    "dense_grid",
    "evaluate",
    "evaluate_model",
    "extract_mesh",
    "field_scores",
    "input_voxel_iou",
    "iou",
    "load",
    "load_observation",
    "logit",
    "matched_grid_config",
    "mean_scores",
    "mise",
    "mise_check",
    "model_field",
    "network_field",
    "occupancy_loss",
    "oracle_iou",
    "point_cloud",
    "preview",
    "random_shape",
    "random_shapes",
    "reconstruct",
    "refine_mesh",
    "render",
    "save",
    "scores",
    "sphere_shape",
    "surface_distances",
    "train",
    "uniform_points",
    "voxelize",
    "write_obj",
    "write_ply",
]
