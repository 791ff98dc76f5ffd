"""MANO: safe model loading, the native layer (metres) and the manopth drop-in (millimetres)."""

from handmesh.mano.constants import (
    BONES,
    CANONICAL_TO_HO3D,
    CANONICAL_TO_MANO_TIPS,
    JOINT_NAMES,
    JOINT_PARENTS,
    MANO_JOINT_NAMES,
    MANO_PARENTS,
    MANO_TIPS_NAMES,
    MANO_TIPS_TO_CANONICAL,
    NUM_FACES,
    NUM_JOINTS,
    NUM_MANO_JOINTS,
    NUM_VERTS,
    TIP_VERTEX_IDS_LEFT,
    TIP_VERTEX_IDS_RIGHT,
    reorder,
)
from handmesh.mano.layer import MANO, ManoOutput
from handmesh.mano.loader import ManoModelData, load_mano_from_preset, load_mano_model
from handmesh.mano.manopth_layer import ManoLayer

__all__ = [
    "BONES",
    "CANONICAL_TO_HO3D",
    "CANONICAL_TO_MANO_TIPS",
    "JOINT_NAMES",
    "JOINT_PARENTS",
    "MANO",
    "MANO_JOINT_NAMES",
    "MANO_PARENTS",
    "MANO_TIPS_NAMES",
    "MANO_TIPS_TO_CANONICAL",
    "NUM_FACES",
    "NUM_JOINTS",
    "NUM_MANO_JOINTS",
    "NUM_VERTS",
    "TIP_VERTEX_IDS_LEFT",
    "TIP_VERTEX_IDS_RIGHT",
    "ManoLayer",
    "ManoModelData",
    "ManoOutput",
    "load_mano_from_preset",
    "load_mano_model",
    "reorder",
]
