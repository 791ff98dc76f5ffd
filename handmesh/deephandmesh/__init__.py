"""DeepHandMesh (Moon et al., ECCV 2020): hand-model files, encoder-decoder, losses, data.

``hand_model`` reads the six hand-model files; ``kinematics`` holds the Euler FK, skinning and
rigid fit; ``network`` the encoder-decoder parts; ``losses``, ``criteria`` and ``depth_render``
the training terms; ``metrics`` the evaluation; ``annotations`` and ``dataset`` the published
dataset formats; ``synthetic_model`` and ``synthetic_data`` the embedded default; ``poses`` and
``mesh_io`` the demo's poses and outputs; ``checkpoint`` the official snapshot layout. The
registered model is ``handmesh.models.DeepHandMesh``. Importing this package reads no file.
"""

from handmesh.deephandmesh.constants import JOINT_NAMES, NUM_JOINTS, ROOT_JOINT
from handmesh.deephandmesh.hand_model import HandTemplate, load_hand_model

__all__ = ["JOINT_NAMES", "NUM_JOINTS", "ROOT_JOINT", "HandTemplate", "load_hand_model"]
