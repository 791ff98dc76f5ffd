"""DeepHandMesh (Moon et al., ECCV 2020): hand-model files, encoder-decoder, losses, data.

``hand_model`` reads the six hand-model files; ``kinematics`` holds the Euler FK, skinning and
rigid fit; ``network`` the encoder-decoder; ``losses`` and ``depth_render`` the training terms;
``annotations`` and ``dataset`` the published dataset formats; ``synthetic_model`` and
``synthetic_data`` the embedded default. Importing this package reads no file.
"""

from handmesh.deephandmesh.constants import JOINT_NAMES, NUM_JOINTS, ROOT_JOINT
from handmesh.deephandmesh.hand_model import HandTemplate, load_hand_model
from handmesh.deephandmesh.network import DeepHandMeshNet

__all__ = [
    "JOINT_NAMES",
    "NUM_JOINTS",
    "ROOT_JOINT",
    "DeepHandMeshNet",
    "HandTemplate",
    "load_hand_model",
]
