"""IKNet (joints -> MANO pose) and the batched HandTailor fitting unit.

::

    from handmesh.iknet import HandTailorFitter, load_iknet
    iknet = load_iknet("assets/postprocess/iknet.pt")      # IKNet in eval mode, strict load
    fitter = HandTailorFitter(iknet, mano_root=None, reg_target="batch")
    out = fitter(joints_3d)   # (B, 21, 3) camera metres -> verts_3d, joints_3d, so3, beta, so3_init

In an evaluation: the ``HandTailorFit`` step of ``TEST.POSTPROCESS`` (``handmesh.iknet.postprocess``)
and ``python -m train.test_model_hand_tailor``.
"""

from handmesh.iknet import postprocess  # noqa: F401  (registers HandTailorFit, fitted_mpjpe)
from handmesh.iknet.fitter import HandTailorFitter
from handmesh.iknet.network import IKNet, iknet_quaternion_to_axis_angle, normalize_joints
from handmesh.iknet.weights import DEFAULT_IKNET_PATH, load_iknet, save_iknet

__all__ = [
    "DEFAULT_IKNET_PATH",
    "HandTailorFitter",
    "IKNet",
    "iknet_quaternion_to_axis_angle",
    "load_iknet",
    "normalize_joints",
    "save_iknet",
]
