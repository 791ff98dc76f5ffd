"""Network heads, registered in ``HEADS``."""

from handmesh.heads.integral_pose import IntegralDeconvHead, integrate_heatmap3d, normalize_heatmap

__all__ = ["IntegralDeconvHead", "integrate_heatmap3d", "normalize_heatmap"]
