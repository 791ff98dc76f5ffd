"""Shared test settings: small thread pools (CI has 2 cores) and deterministic seeds."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed() -> None:
    """Every test starts from the same torch RNG state (numpy code uses explicit Generators)."""
    torch.manual_seed(0)
