"""Image backbones: ResNet 18-152 (torchvision keys, OakInk frozen-BN layouts), HRNet, FPN.

Importing this package registers in ``handmesh.registry.BACKBONES``:

* ``resnet18`` .. ``resnet152`` (OakInk-HMR's TYPE strings) and ``ResNet`` (with ``DEPTH``);
* ``hrnet_w18`` / ``w32`` / ``w40`` / ``w48`` / ``w64`` and ``HRNet`` (with ``WIDTH``);
* ``FPN`` (HandOccNet's backbone).

Every backbone has ``out_channels`` and ``strides`` (output name -> channels / stride) and takes
``PRETRAINED`` as described in ``handmesh.backbones.pretrained``.
"""

from handmesh.backbones.fpn import FPN
from handmesh.backbones.frozen_bn import FrozenBatchNorm2d
from handmesh.backbones.hrnet import HRNet
from handmesh.backbones.resnet import ResNet

__all__ = ["FPN", "FrozenBatchNorm2d", "HRNet", "ResNet"]
