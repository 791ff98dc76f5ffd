"""Fixtures: OakInk-format trees written by ``oakink_tree.make_oakink_tree``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.data.oakink.oakink_tree import OakInkTree, make_oakink_tree


@pytest.fixture(scope="session")
def oakink_tree(tmp_path_factory: pytest.TempPathFactory) -> OakInkTree:
    """One tree shared by the tests that only read it (never modify it: use ``fresh_tree``)."""
    return make_oakink_tree(tmp_path_factory.mktemp("oakink_shared") / "data" / "OakInk")


@pytest.fixture
def fresh_tree(oakink_tree: OakInkTree, tmp_path: Path) -> OakInkTree:
    """A copy of the tree of this test's own, free to modify (``<tmp>/data/OakInk``)."""
    return oakink_tree.copy_to(tmp_path / "data" / "OakInk")
