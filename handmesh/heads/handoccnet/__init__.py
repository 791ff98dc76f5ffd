"""HandOccNet's network parts after the FPN backbone: FIT / SET transformers, the hourglass
heatmap branch with soft-argmax, the heatmap encoder and the MANO regressor (Park et al.,
CVPR 2022; module and parameter names follow ``namepllet/HandOccNet`` so its checkpoints load)."""

from handmesh.heads.handoccnet.heatmap import (
    HeatmapEncoder,
    HeatmapHead,
    Hourglass,
    soft_argmax_2d,
    spatial_softmax,
)
from handmesh.heads.handoccnet.mano_head import ManoRegressionHead, rot6d_to_axis_angle
from handmesh.heads.handoccnet.regressor import Regressor, handoccnet_init_weights
from handmesh.heads.handoccnet.transformer import (
    FeatureTransformer,
    TransformerBlock,
    multi_head_attention,
)

__all__ = [
    "FeatureTransformer",
    "HeatmapEncoder",
    "HeatmapHead",
    "Hourglass",
    "ManoRegressionHead",
    "Regressor",
    "TransformerBlock",
    "handoccnet_init_weights",
    "multi_head_attention",
    "rot6d_to_axis_angle",
    "soft_argmax_2d",
    "spatial_softmax",
]
