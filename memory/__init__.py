"""The memory stream: records scored by recency, importance and relevance (Park et al., 2023)."""
