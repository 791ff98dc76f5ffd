"""CONTRIBUTING.md's worked example (a toy head used by IntegralPose through HEAD.TYPE, a
config-declared metric, a checkpoint as the one source of weights) must work as written."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import yaml

from handmesh.registry import HEADS

CONTRIBUTING = Path(__file__).resolve().parents[2] / "CONTRIBUTING.md"


def _python_blocks() -> list[str]:
    text = CONTRIBUTING.read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    # the blocks are indented inside a numbered list
    return [
        "\n".join(line[3:] if line.startswith("   ") else line for line in b.splitlines())
        for b in blocks
    ]


def test_contributing_toy_head_example_runs_as_written(tmp_path) -> None:
    head_code, test_code = _python_blocks()
    namespace: dict = {}
    try:
        exec(compile(head_code, "CONTRIBUTING.md:toy_head", "exec"), namespace)
        assert "ToyHead" in HEADS
        exec(compile(test_code, "CONTRIBUTING.md:test_toy_head", "exec"), namespace)
        namespace["test_toy_head_inside_integral_pose"](tmp_path)
        (config_block,) = re.findall(r"```yaml\n(.*?)```", CONTRIBUTING.read_text(), flags=re.S)
        shown = yaml.safe_load(textwrap.dedent(config_block))
        assert shown["MODEL"] == namespace["CFG"]["MODEL"]  # the config shown is the one tested
    finally:
        HEADS._entries.pop("ToyHead", None)
    assert "ToyHead" not in HEADS
