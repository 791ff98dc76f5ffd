"""Data pipeline: dataset readers, crop-and-augment transforms, collate (keys in ``keys.py``)."""

from handmesh.data.collate import collate
from handmesh.data.datasets import HandDataset, SyntheticHands
from handmesh.data.transforms import HandTransform, build_transform, sample_rng

__all__ = [
    "HandDataset",
    "HandTransform",
    "SyntheticHands",
    "build_transform",
    "collate",
    "sample_rng",
]
