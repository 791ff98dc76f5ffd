"""``HandDataset``: the base class of every dataset reader.

A subclass implements ``__len__`` and ``get_raw(idx)`` (a RawSample, keys.py RAW_KEYS: full image,
camera-space metres, no augmentation); ``__getitem__`` applies the transform built from
DATA_PRESET with a generator seeded by (seed, epoch, index), so samples are reproducible across
workers and runs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import torch.utils.data

from handmesh.data.transforms import HandTransform, build_transform, sample_rng
from handmesh.errors import DataNotFoundError

__all__ = ["HandDataset", "check_data_root", "is_train_split"]


def is_train_split(data_split: str) -> bool:
    """OakInk-HMR's rule: any split name containing "train" (e.g. "train+val") is a train split."""
    return "train" in str(data_split)


def check_data_root(path: str | os.PathLike, dataset: str, hint: str = "") -> str:
    """Return ``path`` as a string if it is a directory, else fail with what was expected there."""
    path = os.fspath(path)
    if not os.path.isdir(path):
        extra = f" {hint}" if hint else ""
        raise DataNotFoundError(
            f"{dataset}: data root {path!r} does not exist or is not a directory "
            f"(set DATASET.*.DATA_ROOT).{extra}"
        )
    return path


class HandDataset(torch.utils.data.Dataset):
    """Base dataset: ``__getitem__(idx) = transform(get_raw(idx))`` with ``sample_idx`` set.

    Args:
        transform: the crop/augment transform (``build_transform`` from DATA_PRESET).
        seed: augmentation seed; with the epoch (``set_epoch``) and the index it seeds each
            sample's generator.
    """

    name = "HandDataset"

    def __init__(self, transform: HandTransform | None = None, seed: int = 0) -> None:
        super().__init__()
        self.transform = transform if transform is not None else HandTransform()
        self.seed = int(seed)
        self.epoch = 0

    @staticmethod
    def transform_from_preset(
        data_preset: Mapping[str, Any] | None,
        data_split: str,
        aug: bool = False,
        aug_param: Mapping[str, Any] | None = None,
    ) -> HandTransform:
        """The transform for a split: train-mode visibility for train splits, AUG as given."""
        return build_transform(data_preset, is_train_split(data_split), aug, aug_param)

    def set_epoch(self, epoch: int) -> None:
        """Select the augmentation draws of ``epoch`` (call from every worker-owning process)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must implement __len__")

    def get_raw(self, idx: int) -> dict[str, Any]:
        """The un-augmented RawSample ``idx`` (keys.py RAW_KEYS)."""
        raise NotImplementedError(f"{type(self).__name__} must implement get_raw")

    def _check_index(self, idx: int) -> int:
        length = len(self)
        if not -length <= idx < length:
            raise IndexError(
                f"{type(self).__name__}: index {idx} out of range for {length} samples"
            )
        return idx % length

    def __getitem__(self, idx: int) -> dict[str, Any]:
        idx = self._check_index(int(idx))
        raw = self.get_raw(idx)
        raw["sample_idx"] = idx
        rng = sample_rng(self.seed, idx, self.epoch) if self.transform.aug else None
        sample = self.transform(raw, rng)
        sample["sample_idx"] = idx
        return sample
