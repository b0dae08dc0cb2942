"""The survey's techniques (Hassanin et al. 2024, arXiv 2204.07756), placed in its taxonomy.

One row per technique: category (soft: channel, spatial, self, arithmetic, multi-modal, logical,
category-based; hard: statistical, gaussian, clustering), paper, year, the core formula in one
line, and the registry name that implements it here, or why it is not implemented. Placement
follows the survey's grouping as read from its taxonomy figure; `most_cited` marks the techniques
the survey singles out as most cited (our order-of-magnitude reading, not the survey's count).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from methods.attention.registry import CATEGORIES, HARD


@dataclass(frozen=True)
class Technique:
    name: str
    category: str
    paper: str
    year: int
    formula: str
    implemented: str | None = None  # registry name
    note: str = ""  # why not implemented, or how the module relates
    most_cited: bool = False

    @property
    def family(self) -> str:
        return "hard" if self.category in HARD else "soft"

    def row(self) -> dict[str, Any]:
        return {**asdict(self), "family": self.family}


_T = Technique
TECHNIQUES: tuple[Technique, ...] = (
    # -- soft: channel
    _T(
        "SE-Net",
        "channel",
        "Hu et al., Squeeze-and-Excitation Networks",
        2018,
        "x * sigmoid(W2 relu(W1 GAP(x)))",
        "se",
        most_cited=True,
    ),
    _T("Effective SE", "channel", "Lee & Park, CenterMask", 2020, "x * hsigmoid(W GAP(x))", "ese"),
    _T(
        "ECA-Net",
        "channel",
        "Wang et al., ECA-Net",
        2020,
        "x * sigmoid(conv1d_k(GAP(x)))",
        "eca",
        most_cited=True,
    ),
    _T(
        "Gather-Excite", "channel", "Hu et al., Gather-Excite", 2018, "x * sigmoid(gather(x))", "ge"
    ),
    _T(
        "Split attention (ResNeSt)",
        "channel",
        "Zhang et al., ResNeSt",
        2020,
        "sum_r rsoftmax_r(MLP(GAP(sum U))) U_r",
        "splat",
        most_cited=True,
    ),
    _T(
        "Selective kernel",
        "channel",
        "Li et al., Selective Kernel Networks",
        2019,
        "sum_p softmax_p(z) conv_p(x)",
        "sk",
    ),
    _T(
        "Second-order (SOCA)",
        "channel",
        "Dai et al., Second-order Attention Network",
        2019,
        "x * sigmoid(MLP(rowmean(Sigma^1/2)))",
        "soca",
        most_cited=True,
    ),
    _T(
        "High-order attention",
        "channel",
        "Ding et al., Multi-scale high-order attention",
        2020,
        "x * sigmoid(sum_r prod_{i<=r} (W_i x))",
        None,
        "a higher-order (polynomial) gate for person re-id; SOCA covers second order",
    ),
    _T(
        "Harmonious attention (HA-CNN)",
        "channel",
        "Li et al., Harmonious Attention Network",
        2018,
        "x * sigmoid(soft_spatial * soft_channel) + hard regional crops",
        None,
        "tied to a re-id architecture with hard region branches; parts are CBAM-like",
        most_cited=True,
    ),
    _T(
        "Auto-learning attention",
        "channel",
        "Ma et al., Auto learning attention",
        2020,
        "NAS over attention cell operations",
        None,
        "needs an architecture search",
    ),
    _T(
        "Double attention (A2)",
        "channel",
        "Chen et al., A2-Nets",
        2018,
        "x + W (A softmax_N(B)^T) softmax_n(V)",
        "double",
        most_cited=True,
    ),
    _T(
        "Dual attention (DANet)",
        "channel",
        "Fu et al., Dual Attention Network",
        2019,
        "x + a PAM(x) + b CAM(x)",
        "danet",
        most_cited=True,
    ),
    _T(
        "CBAM channel branch",
        "channel",
        "Woo et al., CBAM",
        2018,
        "x * sigmoid(MLP(avg x) + MLP(max x))",
        "cbam",
        "inside cbam (channel then spatial)",
        most_cited=True,
    ),
    _T(
        "Frequency channel (FcaNet)",
        "channel",
        "Qin et al., FcaNet",
        2021,
        "x * sigmoid(MLP(DCT_{u,v}(x_g)))",
        "fca",
        most_cited=True,
    ),
    _T(
        "Coordinate attention",
        "channel",
        "Hou et al., Coordinate Attention",
        2021,
        "x * sigmoid(F_h(pool_w x)) * sigmoid(F_w(pool_h x))",
        "coord",
    ),
    # -- soft: spatial
    _T(
        "CBAM spatial branch",
        "spatial",
        "Woo et al., CBAM",
        2018,
        "x * sigmoid(conv7([avg_c x; max_c x]))",
        "spatial",
        most_cited=True,
    ),
    _T("BAM", "spatial", "Park et al., BAM", 2018, "x + x * sigmoid(M_c(x) + M_s(x))", "bam"),
    _T(
        "Triplet attention",
        "spatial",
        "Misra et al., Rotate to Attend",
        2021,
        "mean of three rotated ZPool-conv gates",
        "triplet",
    ),
    _T(
        "SimAM",
        "spatial",
        "Yang et al., SimAM",
        2021,
        "x * sigmoid((x-mu)^2 / (4(var+l)) + 1/2)",
        "simam",
    ),
    _T(
        "Co-excitation / co-attention",
        "spatial",
        "Hsieh et al., One-shot object detection with co-attention and co-excitation",
        2019,
        "query-target non-local + SE across images",
        None,
        "needs a pair of images (query and target)",
    ),
    _T(
        "Spatial pyramid attention (SPAN)",
        "spatial",
        "Hu et al., SPAN",
        2020,
        "x * sigmoid(MLP([pool_1; pool_2; pool_4](x)))",
        None,
        "not implemented for lack of time",
    ),
    _T(
        "Spatial-spectral attention",
        "spatial",
        "Meng et al., End-to-end low cost compressive"
        " spectral imaging with spatial-spectral self-attention",
        2020,
        "separate spatial and spectral self-attention",
        None,
        "for hyperspectral reconstruction; the spatial half is axial-like",
    ),
    _T(
        "Pixel-wise contextual (PiCANet)",
        "spatial",
        "Liu et al., PiCANet",
        2018,
        "y_i = sum_{j in N(i)} softmax_j(ReNet(x)_i) x_j",
        None,
        "local and global variants need a ReNet (bidirectional LSTM) encoder; sasa is close",
        most_cited=True,
    ),
    _T(
        "Pyramid feature attention",
        "spatial",
        "Zhao & Wu, Pyramid feature attention network for saliency detection",
        2019,
        "CA on high-level + SA on low-level pyramid features",
        None,
        "a saliency architecture over a feature pyramid",
        most_cited=True,
    ),
    _T(
        "Attention pyramid",
        "spatial",
        "Ding et al., Attention pyramid (fine-grained)",
        2021,
        "top-down spatial and channel attention over a feature pyramid",
        None,
        "an architecture, not a plug-in",
    ),
    _T(
        "Region attention (RANet)",
        "spatial",
        "Sun et al., RANet",
        2021,
        "attention over region proposals",
        None,
        "needs region proposals",
    ),
    # -- soft: self
    _T(
        "Transformer attention",
        "self",
        "Vaswani et al., Attention Is All You Need",
        2017,
        "softmax(QK^T/sqrt(d)) V",
        "mhsa",
        most_cited=True,
    ),
    _T(
        "ViT",
        "self",
        "Dosovitskiy et al., An Image is Worth 16x16 Words",
        2021,
        "MHSA over patches with position embeddings",
        "mhsa_pos",
        "the attention with 2-D positions; the patch embedding is the host CNN",
        most_cited=True,
    ),
    _T(
        "Swin",
        "self",
        "Liu et al., Swin Transformer",
        2021,
        "softmax(QK^T/sqrt(d) + B) V in shifted windows",
        "swin",
        most_cited=True,
    ),
    _T(
        "Deformable attention (DAT)",
        "self",
        "Xia et al., Vision Transformer with Deformable Attention",
        2022,
        "softmax(Q K(x~)^T) V(x~), x~ sampled at learned offsets",
        "deformable",
        most_cited=True,
    ),
    _T(
        "Stand-alone self-attention",
        "self",
        "Ramachandran et al., Stand-Alone Self-Attention",
        2019,
        "local k x k softmax(q (k + r)) v",
        "sasa",
        most_cited=True,
    ),
    _T(
        "Clustered attention",
        "self",
        "Vyas et al., Fast Transformers with Clustered Attention",
        2020,
        "queries clustered; each centroid's attention shared",
        None,
        "not implemented for lack of time; ema and slot cover clustering of positions",
    ),
    _T(
        "Slot attention",
        "self",
        "Locatello et al., Slot Attention",
        2020,
        "softmax over slots; GRU updates",
        "slot",
        most_cited=True,
    ),
    _T(
        "Efficient attention",
        "self",
        "Shen et al., Efficient Attention",
        2021,
        "rho_q(Q) (rho_k(K)^T V)",
        "efficient",
    ),
    _T(
        "Random-feature attention",
        "self",
        "Peng et al., Random Feature Attention",
        2021,
        "phi(Q)(phi(K)^T V) / phi(Q) sum phi(K)",
        "rfa",
    ),
    _T(
        "Non-local",
        "self",
        "Wang et al., Non-local Neural Networks",
        2018,
        "x + W sum_j softmax(theta^T phi) g",
        "nonlocal",
        most_cited=True,
    ),
    _T(
        "Global context (GCNet)",
        "self",
        "Cao et al., GCNet",
        2019,
        "x * sigmoid(MLP(sum_j softmax_j(w x_j) x_j))",
        "gc",
    ),
    _T(
        "Non-local sparse (NLSA)",
        "self",
        "Mei et al., Image super-resolution with non-local sparse attention",
        2021,
        "non-local attention within LSH buckets",
        None,
        "not implemented for lack of time",
    ),
    _T(
        "X-Linear attention",
        "self",
        "Pan et al., X-Linear Attention Networks for Image Captioning",
        2020,
        "bilinear (q * k) pooling with spatial and channel attention",
        None,
        "an image-captioning decoder block (needs a text query)",
        most_cited=True,
    ),
    _T(
        "Axial attention",
        "self",
        "Wang et al., Axial-DeepLab",
        2020,
        "attention along H, then W",
        "axial",
        most_cited=True,
    ),
    _T(
        "External attention",
        "self",
        "Guo et al., Beyond Self-attention",
        2021,
        "l1_S(softmax_N(F M_k^T)) M_v",
        "external",
    ),
    # -- soft: arithmetic
    _T(
        "Attention dropout",
        "arithmetic",
        "Zehui et al., DropAttention",
        2019,
        "dropout on the attention weights",
        None,
        "a regulariser of any weights here; bayesian shows noisy weights",
    ),
    _T(
        "Mirror attention",
        "arithmetic",
        "Mirror attention (survey's arithmetic group)",
        2019,
        "attention and its mirror (1 - a) combined",
        None,
        "covered by reverse in spirit",
    ),
    _T(
        "Reverse attention",
        "arithmetic",
        "Chen et al., Reverse Attention for Salient Object Detection",
        2018,
        "x + W (x * (1 - sigmoid(S)))",
        "reverse",
        most_cited=True,
    ),
    _T(
        "Inverse attention",
        "arithmetic",
        "Inverse attention (survey's arithmetic group)",
        2019,
        "attend to the complement of a prediction",
        None,
        "close to reverse",
    ),
    _T(
        "Reciprocal attention",
        "arithmetic",
        "Reciprocal attention (survey's arithmetic group)",
        2019,
        "mutual attention between two streams",
        None,
        "needs two streams",
    ),
    # -- soft: multi-modal
    _T(
        "Cross attention (CAN)",
        "multi-modal",
        "Hou et al., Cross Attention Network for Few-shot Classification",
        2019,
        "softmax over class-feature correlation maps",
        None,
        "needs a support and a query image",
        most_cited=True,
    ),
    _T(
        "Criss-cross (CCNet)",
        "multi-modal",
        "Huang et al., CCNet",
        2019,
        "row+column softmax(q k) v, R=2",
        "criss_cross",
        most_cited=True,
    ),
    _T(
        "Perceiver",
        "multi-modal",
        "Jaegle et al., Perceiver",
        2021,
        "latents cross-attend to inputs",
        "perceiver",
        most_cited=True,
    ),
    _T(
        "Stacked cross attention (SCAN)",
        "multi-modal",
        "Lee et al., Stacked Cross Attention for Image-Text Matching",
        2018,
        "regions attend to words and back",
        None,
        "needs text",
        most_cited=True,
    ),
    _T(
        "Boosted attention",
        "multi-modal",
        "Chen et al., Boosted Attention (captioning)",
        2018,
        "top-down attention boosted by a saliency prior",
        None,
        "needs text and saliency data",
    ),
    # -- soft: logical
    _T(
        "Sequential / recurrent attention",
        "logical",
        "Mnih et al., Recurrent Models of Visual Attention",
        2014,
        "glimpses chosen by a policy over time",
        None,
        "a REINFORCE-trained glimpse policy, not a plug-in",
    ),
    _T(
        "Permutation-invariant (Set Transformer)",
        "logical",
        "Lee et al., Set Transformer",
        2019,
        "ISAB(X) = MAB(X, MAB(I, X))",
        "isab",
        most_cited=True,
    ),
    # -- soft: category-based
    _T(
        "GAIN",
        "category-based",
        "Li et al., Tell Me Where to Look",
        2018,
        "T(A) = sigmoid(w(A - s)); L_am = score_c(x * (1 - T(A)))",
        "gain",
        most_cited=True,
    ),
    # -- hard: statistical
    _T(
        "Bayesian attention modules",
        "statistical",
        "Fan et al., Bayesian Attention Modules",
        2020,
        "log-normal attention weights, normalised",
        "bayesian",
    ),
    _T(
        "Repulsive attention",
        "statistical",
        "An et al., Repulsive Attention",
        2020,
        "multi-head attention as particles with a repulsive (Stein) update",
        None,
        "needs Stein variational training",
    ),
    _T(
        "Variational attention",
        "statistical",
        "Deng et al., Latent Alignment and Variational Attention",
        2018,
        "attention as a latent variable, ELBO training",
        None,
        "not implemented for lack of time",
    ),
    _T(
        "Self-critic attention",
        "statistical",
        "Chen et al., Self-Critical Attention Learning",
        2019,
        "a critic scores attention maps (RL)",
        None,
        "needs an RL critic",
    ),
    # -- hard: gaussian
    _T(
        "Uncertainty-aware attention",
        "gaussian",
        "Heo et al., Uncertainty-Aware Attention",
        2018,
        "a ~ N(mu(x), sigma(x)^2); x * sigmoid(a)",
        "uncertainty",
    ),
    _T(
        "Self-supervised Gaussian attention",
        "gaussian",
        "Niu et al., Gaussian attention (self-supervised)",
        2021,
        "attention weights from a Gaussian kernel over positions",
        None,
        "not implemented for lack of time",
    ),
    # -- hard: clustering
    _T(
        "EM attention (EMANet)",
        "clustering",
        "Li et al., EMANet",
        2019,
        "EM over K bases; x + BN(W z mu)",
        "ema",
        most_cited=True,
    ),
    _T(
        "GATCluster",
        "clustering",
        "Niu et al., GATCluster",
        2020,
        "Gaussian attention for unsupervised clustering",
        None,
        "a clustering objective, not a plug-in",
    ),
)


def catalog(
    category: str | None = None, implemented: bool | None = None, query: str = ""
) -> list[Technique]:
    """Techniques filtered by category, by whether implemented here, and by a text query."""
    if category is not None and category not in CATEGORIES:
        raise ValueError(f"category must be one of {CATEGORIES}, got {category!r}")
    q = query.lower().strip()
    return [
        t
        for t in TECHNIQUES
        if category in (None, t.category)
        and implemented in (None, t.implemented is not None)
        and (not q or q in f"{t.name} {t.paper} {t.formula} {t.implemented or ''}".lower())
    ]
