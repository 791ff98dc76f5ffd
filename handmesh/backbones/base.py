"""What every backbone declares: its outputs (detectron2's ``output_shape``) and its own
pretrained weights, loaded only in the initialise phase.

A model reads the feature it needs by name (e.g. ``MODEL.HEAD.IN_FEATURE: res_layer4``) and
checks it against ``output_shape()`` at build time with :func:`select_feature`, so an incompatible
backbone fails when the model is built, naming both, not in the first forward.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from handmesh.backbones.pretrained import (
    PretrainedSpec,
    WeightsFile,
    check_pretrained_spec,
    load_pretrained,
)
from handmesh.errors import ConfigError

__all__ = ["Backbone", "ShapeSpec", "select_feature"]


@dataclass(frozen=True)
class ShapeSpec:
    """One backbone output: channels, and stride in input pixels (None for pooled vectors)."""

    channels: int
    stride: int | None = None


class Backbone(nn.Module):
    """Base class: ``forward(image) -> {name: feature}`` as declared by ``output_shape()``.

    Subclasses call ``super().__init__(pretrained=...)`` (stored, never loaded there), set
    ``self._output_shape`` and list their published files in ``pretrained_files()``.
    """

    _output_shape: dict[str, ShapeSpec]

    def __init__(self, pretrained: PretrainedSpec = None) -> None:
        super().__init__()
        self.pretrained = check_pretrained_spec(pretrained)

    def output_shape(self) -> dict[str, ShapeSpec]:
        """Output name -> ShapeSpec (channels, stride)."""
        return dict(self._output_shape)

    @property
    def out_channels(self) -> dict[str, int]:
        return {name: spec.channels for name, spec in self._output_shape.items()}

    @property
    def strides(self) -> dict[str, int]:
        return {n: s.stride for n, s in self._output_shape.items() if s.stride is not None}

    def pretrained_files(self) -> Sequence[WeightsFile]:
        """The published weight files ``PRETRAINED: true`` may use, preferred first."""
        return ()

    def init_pretrained(self) -> Path | None:
        """Load the weights named by ``PRETRAINED`` (see ``handmesh.backbones.pretrained``);
        returns the file loaded or None. Called by the initialise phase only."""
        return load_pretrained(self, self.pretrained, self.pretrained_files())


def select_feature(
    backbone: nn.Module, name: str, channels: int | None, where: str = "MODEL.HEAD"
) -> ShapeSpec:
    """The ShapeSpec of output ``name`` of ``backbone``; a ConfigError naming the backbone, its
    outputs and ``where`` when it has no such output or ``channels`` (if given) differs."""
    shapes = backbone.output_shape() if isinstance(backbone, Backbone) else None
    kind = type(backbone).__name__
    if shapes is None:
        raise ConfigError(f"{where}: {kind} is not a backbone (it declares no output_shape())")
    if name not in shapes:
        raise ConfigError(
            f"{where}.IN_FEATURE {name!r} is not an output of the backbone {kind} (outputs: "
            f"{', '.join(f'{n} ({s.channels} ch)' for n, s in shapes.items())})."
        )
    spec = shapes[name]
    if channels is not None and spec.channels != channels:
        raise ConfigError(
            f"{where}: the head takes {channels} input channels, but the backbone {kind}'s "
            f"{name!r} output has {spec.channels}."
        )
    return spec
