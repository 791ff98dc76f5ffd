"""Codecs: one object that encodes training targets and decodes predictions (mmpose style).

``UVDCodec`` is OakInk-HMR's normalised (u, v, d) encoding, shared by the data transforms
(targets) and the 2.5D models (IntegralPose, RegressFlow3D, I2L-MeshNet) that decode it.
"""

from handmesh.codecs.uvd import UVD_DEPTH_RANGE, UVDCodec

__all__ = ["UVD_DEPTH_RANGE", "UVDCodec"]
