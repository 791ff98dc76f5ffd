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


@pytest.fixture(autouse=True)
def _fresh_handmesh_logger():
    """In-process CLI tests configure the ``handmesh`` logger with handlers bound to pytest's
    captured streams; drop them after each test so no later test writes to a closed stream."""
    yield
    import logging

    logger = logging.getLogger("handmesh")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    logger.propagate = True
