"""WIDIn: wording images for domain-invariant representations from a single source domain.

    from methods.widin import TextEncoder, WidinConfig, digits_dg, run_digits_dg

    report = run_digits_dg(TextEncoder(minilm_path), WidinConfig(), seed=0)
    print(report.accuracy["widin"], report.gain(), report.mechanism)

`WidinConfig(encoder="clip")` runs the CLIP-like path (an image tower trained against the
frozen text encoder on a captioned pool of styles, plus the zero-shot baseline).

Ma, Niu, Huang, Han & Chang, arXiv 2405.18405. See README.md for the method and the benchmark.
"""

from methods.widin.clip import (
    CaptionBank,
    ClipConfig,
    ClipTower,
    caption_bank,
    train_clip_tower,
    zero_shot,
)
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
    CLIP_METHODS,
    ENCODERS,
    METHODS,
    DGReport,
    JointSpace,
    WidinConfig,
    WidinModel,
    fit_widin,
    mechanism_probes,
    pretrain_clip,
    run_digits_dg,
)
from methods.widin.openclip import OpenClip, OpenClipImage, OpenClipText, load_open_clip
from methods.widin.probes import linear_probe, probe_accuracy
from methods.widin.text import TextEncoder, TextTower
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
    "CLIP_METHODS",
    "DIGIT_NAMES",
    "DOMAINS",
    "ENCODERS",
    "METHODS",
    "OpenClip",
    "OpenClipImage",
    "OpenClipText",
    "CaptionBank",
    "ClipConfig",
    "ClipTower",
    "JointSpace",
    "DGData",
    "DGReport",
    "Projector",
    "SimCLRConfig",
    "SmallCNN",
    "Stage2",
    "Stage2Config",
    "TextEncoder",
    "TextTower",
    "TextMap",
    "WidinConfig",
    "WidinModel",
    "WordingConfig",
    "caption_bank",
    "class_embeddings",
    "decompose",
    "digits_dg",
    "embed_images",
    "fit_widin",
    "load_open_clip",
    "image_files",
    "linear_probe",
    "load_image_folder",
    "mechanism_probes",
    "pretrain_clip",
    "probe_accuracy",
    "read_images",
    "render_domain",
    "run_digits_dg",
    "train_clip_tower",
    "train_simclr",
    "train_stage2",
    "train_text_map",
    "train_wording",
    "word_images",
    "zero_shot",
]
