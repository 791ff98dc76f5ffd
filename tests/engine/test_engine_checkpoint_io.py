"""Checkpoint I/O: published layouts in, strict loading with one clear error, atomic writes."""

from __future__ import annotations

import os
from collections import OrderedDict

import pytest
import torch
from torch import nn

from handmesh.checkpoint import extract_state_dict, load_weights
from handmesh.engine.checkpoint import save_model
from handmesh.errors import CheckpointError
from handmesh.io.atomic import atomic_torch_save, new_temp_dir, recover_dir, replace_dir


class TinyNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 1)
        self.bn = nn.BatchNorm2d(3)


def reference_state() -> OrderedDict:
    """TinyNet's keys and shapes, written out by hand."""
    g = torch.Generator().manual_seed(0)
    shapes = {
        "conv.weight": (3, 2, 1, 1),
        "conv.bias": (3,),
        "bn.weight": (3,),
        "bn.bias": (3,),
        "bn.running_mean": (3,),
        "bn.running_var": (3,),
    }
    state = OrderedDict((k, torch.rand(s, generator=g)) for k, s in shapes.items())
    state["bn.num_batches_tracked"] = torch.tensor(5)
    return state


@pytest.mark.parametrize(
    "layout",
    ["plain", "state_dict", "state_dict_module", "network_module", "model"],
)
def test_published_layouts_load(layout: str, tmp_path) -> None:
    state = reference_state()
    prefixed = OrderedDict((f"module.{k}", v) for k, v in state.items())
    content = {
        "plain": state,
        "state_dict": {"state_dict": state, "epoch": 3},
        "state_dict_module": {"state_dict": prefixed},
        "network_module": {"network": prefixed, "epoch": 70},  # HandOccNet snapshot
        "model": {"model": state},
    }[layout]
    path = tmp_path / "ckpt.pth.tar"
    torch.save(content, path)
    net = TinyNet()
    report = load_weights(net, path)
    assert report.missing == [] and report.unexpected == [] and report.loaded == len(state)
    for key, value in state.items():
        assert torch.equal(net.state_dict()[key], value)


def test_module_prefix_is_added_for_wrapped_models(tmp_path) -> None:
    path = tmp_path / "plain.pth.tar"
    torch.save(reference_state(), path)
    wrapper = nn.Module()
    wrapper.module = TinyNet()  # a DataParallel-style wrapper is unwrapped
    load_weights(wrapper, path)
    assert torch.equal(wrapper.module.conv.bias, reference_state()["conv.bias"])


def test_mismatch_raises_one_error_naming_keys_and_file(tmp_path) -> None:
    state = reference_state()
    del state["bn.running_var"]
    for i in range(12):
        state[f"head.extra{i}.weight"] = torch.zeros(1)
    path = tmp_path / "Other.pth.tar"
    torch.save(state, path)
    with pytest.raises(CheckpointError) as info:
        load_weights(TinyNet(), path)
    message = str(info.value)
    assert str(path) in message and "TinyNet" in message
    assert "missing keys 1: [bn.running_var]" in message
    assert "unexpected keys 12:" in message and "head.extra0.weight" in message
    assert "(+2 more)" in message and "head.extra11.weight" not in message
    assert "different model" in message


def test_shape_mismatch_is_reported(tmp_path) -> None:
    state = reference_state()
    state["conv.weight"] = torch.zeros(4, 2, 1, 1)
    path = tmp_path / "ckpt.pth.tar"
    torch.save(state, path)
    with pytest.raises(
        CheckpointError, match=r"conv\.weight \(4, 2, 1, 1\) vs model \(3, 2, 1, 1\)"
    ):
        load_weights(TinyNet(), path)


class NotAllowed:
    def __init__(self) -> None:
        self.x = 1


def test_arbitrary_pickles_are_refused(tmp_path) -> None:
    path = tmp_path / "evil.pth.tar"
    torch.save({"state_dict": reference_state(), "obj": NotAllowed()}, path)
    with pytest.raises(CheckpointError, match="weights_only") as info:
        load_weights(TinyNet(), path)
    assert "NotAllowed" in str(info.value)  # the real reason, not only torch's first line
    assert "weights_only=False" not in str(info.value)  # and never the advice to turn it off


def test_missing_file_and_no_state_dict(tmp_path) -> None:
    with pytest.raises(CheckpointError, match="not found: .*nope.pth.tar"):
        load_weights(TinyNet(), tmp_path / "nope.pth.tar")
    with pytest.raises(CheckpointError, match="no state dict found"):
        extract_state_dict({"epoch": 3, "optimizer": {}}, "x.pth")


def test_saved_model_is_a_plain_state_dict_named_after_the_type(tmp_path) -> None:
    net = TinyNet()
    path = save_model(net, tmp_path)
    assert path.name == "TinyNet.pth.tar"
    loaded = torch.load(path, weights_only=True)
    assert list(loaded) == list(reference_state())
    assert [p.name for p in tmp_path.iterdir()] == ["TinyNet.pth.tar"]  # no temp file left


class Unpicklable:
    def __reduce__(self):
        raise RuntimeError("cannot pickle")


def test_atomic_save_keeps_the_old_file_when_writing_fails(tmp_path) -> None:
    path = tmp_path / "x.pth"
    atomic_torch_save({"a": torch.ones(1)}, path)
    with pytest.raises(RuntimeError, match="cannot pickle"):
        atomic_torch_save({"a": torch.zeros(1), "b": Unpicklable()}, path)
    assert torch.equal(torch.load(path, weights_only=True)["a"], torch.ones(1))
    assert os.listdir(tmp_path) == ["x.pth"]  # the temp file is gone


def test_directory_swap_recovers_after_a_crash_between_renames(tmp_path) -> None:
    target = tmp_path / "checkpoint"
    first = new_temp_dir(target)
    (first / "a.txt").write_text("1")
    replace_dir(first, target)
    assert (target / "a.txt").read_text() == "1"
    second = new_temp_dir(target)
    (second / "a.txt").write_text("2")
    replace_dir(second, target)
    assert (target / "a.txt").read_text() == "2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint"]
    # a crash right after the old copy was set aside leaves only "checkpoint.old"
    os.replace(target, tmp_path / "checkpoint.old")
    assert (recover_dir(target) / "a.txt").read_text() == "2"


def test_atomic_writes_get_the_modes_of_plain_writes(tmp_path) -> None:
    """Temp files and dirs are private (0o600 / 0o700); published ones follow the umask."""
    (tmp_path / "plain.txt").write_text("x")
    (tmp_path / "plain_dir").mkdir()
    atomic_torch_save({"a": torch.ones(1)}, tmp_path / "atomic.pth")
    folder = new_temp_dir(tmp_path / "checkpoint")
    replace_dir(folder, tmp_path / "checkpoint")

    def mode(name: str) -> int:
        return (tmp_path / name).stat().st_mode & 0o777

    assert mode("atomic.pth") == mode("plain.txt")
    assert mode("checkpoint") == mode("plain_dir")
