"""WIDIn: wording images for domain-invariant representations from a single source domain.

    from methods.widin import TextEncoder, WidinConfig, digits_dg, run_digits_dg

    report = run_digits_dg(TextEncoder(minilm_path), WidinConfig(), seed=0)
    print(report.accuracy["widin"], report.gain(), report.mechanism)

Ma, Niu, Huang, Han & Chang, arXiv 2405.18405. See README.md for the method and the benchmark.
"""

from methods.widin.data import (
    DIGIT_NAMES,
    DOMAINS,
    DGData,
    digits_dg,
    image_files,
    load_image_folder,
    read_images,
    render_domain,
)
from methods.widin.decompose import Stage2, Stage2Config, decompose, train_stage2
from methods.widin.encoders import SimCLRConfig, SmallCNN, embed_images, train_simclr
from methods.widin.experiment import (
    METHODS,
    DGReport,
    WidinConfig,
    WidinModel,
    fit_widin,
    mechanism_probes,
    run_digits_dg,
)
from methods.widin.probes import linear_probe, probe_accuracy
from methods.widin.text import TextEncoder
from methods.widin.wording import (
    Projector,
    TextMap,
    WordingConfig,
    class_embeddings,
    train_text_map,
    train_wording,
    word_images,
)

__all__ = [
    "DIGIT_NAMES",
    "DOMAINS",
    "METHODS",
    "DGData",
    "DGReport",
    "Projector",
    "SimCLRConfig",
    "SmallCNN",
    "Stage2",
    "Stage2Config",
    "TextEncoder",
    "TextMap",
    "WidinConfig",
    "WidinModel",
    "WordingConfig",
    "class_embeddings",
    "decompose",
    "digits_dg",
    "embed_images",
    "fit_widin",
    "image_files",
    "linear_probe",
    "load_image_folder",
    "mechanism_probes",
    "probe_accuracy",
    "read_images",
    "render_domain",
    "run_digits_dg",
    "train_simclr",
    "train_stage2",
    "train_text_map",
    "train_wording",
    "word_images",
]
