"""Per-sample random generators: the same (seed, epoch, index) always gives the same draws."""

from __future__ import annotations

import numpy as np

__all__ = ["sample_rng"]


def sample_rng(seed: int, index: int, epoch: int = 0) -> np.random.Generator:
    """A numpy Generator seeded by ``SeedSequence([seed, epoch, index])``.

    Every random choice of one sample (augmentation, synthetic content) is drawn from its own
    generator, so a sample depends only on (seed, epoch, index): not on the worker that loads it,
    the loading order or the global numpy/torch state. Datasets bump ``epoch`` (``set_epoch``) to
    get fresh augmentations each epoch; test-time samples use epoch 0.
    """
    for name, value in (("seed", seed), ("index", index), ("epoch", epoch)):
        if int(value) < 0:
            raise ValueError(f"sample_rng: {name} must be >= 0, got {value}")
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(epoch), int(index)]))
