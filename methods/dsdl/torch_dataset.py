"""A `torch.utils.data.Dataset` over a DSDL split: typed samples, optionally transformed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from torch.utils.data import Dataset

from methods.dsdl.loader import Split


class DSDLDataset(Dataset):
    """Index a DSDL split like any torch dataset.

        ds = DSDLDataset("dsdl/set-train/train.yaml", box_mode="xyxy",
                         transform=lambda s: (to_tensor(s.image.open()), s.label.index - 1))
        loader = DataLoader(ds, batch_size=32)

    Without a transform an item is the typed sample (a dataclass); torch's default collate
    cannot batch those, so give a transform (or a `collate_fn`) for batching.
    """

    def __init__(
        self,
        source: str | Path | Split,
        *,
        transform: Callable[[Any], Any] | None = None,
        **load_kwargs: Any,
    ) -> None:
        if isinstance(source, Split):
            if load_kwargs:
                raise ValueError("load options apply to a path, not to an already loaded Split")
            self.split = source
        else:
            self.split = Split(source, **load_kwargs)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, index: int) -> Any:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} is outside 0..{len(self) - 1}")
        sample = self.split[index]
        return self.transform(sample) if self.transform is not None else sample
