"""Dataset readers (registered in ``handmesh.registry.DATASETS``)."""

from handmesh.data.datasets.base import HandDataset, check_data_root, is_train_split
from handmesh.data.datasets.dexycb import DexYCB
from handmesh.data.datasets.ho3d import HO3D
from handmesh.data.datasets.oakink import OakInk
from handmesh.data.datasets.synthetic import SyntheticHands

__all__ = [
    "HO3D",
    "DexYCB",
    "HandDataset",
    "OakInk",
    "SyntheticHands",
    "check_data_root",
    "is_train_split",
]
