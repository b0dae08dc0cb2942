"""TRAWL: external knowledge, extracted by an LLM or key factors and adapted contrastively,
enhances ID-based recommenders (Luo et al., arXiv 2403.06642).

Pipeline: `load_movielens` or `synthetic` -> `split` (20% cold items) -> `extract_all` (raw,
key-factor or LLM knowledge text) -> `embed_cached` (frozen MiniLM) -> `run_trawl` (backbone,
InfoNCE adapter, enhanced item vectors, warm and cold Recall/NDCG@K).
"""

from methods.trawl.batched import BatchedExtractor
from methods.trawl.data import Item, RecData, Split, User, load_movielens, split, synthetic
from methods.trawl.encoder import SentenceEncoder, TextEncoder, embed_cached
from methods.trawl.knowledge import (
    ExtractionReport,
    ItemKnowledge,
    KeyFactorExtractor,
    LLMExtractor,
    extract_all,
    raw_text,
    user_profile_text,
)
from methods.trawl.metrics import rank_metrics
from methods.trawl.models import AdapterConfig, TrainConfig
from methods.trawl.pipeline import (
    TrawlConfig,
    TrawlModel,
    TrawlResult,
    content_knn_scores,
    run_trawl,
)

__all__ = [
    "AdapterConfig",
    "BatchedExtractor",
    "ExtractionReport",
    "Item",
    "ItemKnowledge",
    "KeyFactorExtractor",
    "LLMExtractor",
    "RecData",
    "SentenceEncoder",
    "Split",
    "TextEncoder",
    "TrainConfig",
    "TrawlConfig",
    "TrawlModel",
    "TrawlResult",
    "User",
    "content_knn_scores",
    "embed_cached",
    "extract_all",
    "load_movielens",
    "rank_metrics",
    "raw_text",
    "run_trawl",
    "split",
    "synthetic",
    "user_profile_text",
]
