"""HandTailorFitter against a plain per-sample reference of OakInk-HMR's fitting unit."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch
from helpers import mano64, natural_hands, reference_fit, small_rotation_iknet

from handmesh.errors import ArgumentError
from handmesh.iknet import HandTailorFitter, IKNet
from handmesh.mano.synthetic import build_synthetic_mano_dict

KEYS = ("verts_3d", "joints_3d", "so3", "beta", "so3_init")
TOLERANCE = {"verts_3d": 1e-9, "joints_3d": 1e-9, "so3": 1e-8, "beta": 1e-6, "so3_init": 1e-12}


def fitter(**kwargs: object) -> HandTailorFitter:
    return HandTailorFitter(small_rotation_iknet(), mano=mano64(), **kwargs)  # type: ignore[arg-type]


def assert_matches(out: dict[str, torch.Tensor], ref: dict[str, torch.Tensor]) -> None:
    for key in KEYS:
        assert out[key].shape == ref[key].shape, key
        torch.testing.assert_close(out[key], ref[key], atol=TOLERANCE[key], rtol=0, msg=key)


@pytest.mark.parametrize("batch", [1, 8])
@pytest.mark.parametrize("reg_target", ["batch", "sample"])
def test_fit_equals_the_per_sample_reference(batch: int, reg_target: str) -> None:
    joints = natural_hands(batch, seed=batch)
    out = fitter(reg_target=reg_target)(joints)
    assert_matches(out, reference_fit(joints, small_rotation_iknet(), reg_target=reg_target))


def test_adam_step_quirk_changes_results_and_textbook_adam_is_one_flag_away() -> None:
    joints = natural_hands(8, seed=3)
    quirk = fitter()(joints)
    textbook = fitter(adam_step_quirk=False)(joints)
    assert_matches(textbook, reference_fit(joints, small_rotation_iknet(), adam_step_quirk=False))
    change_mm = 1000 * (quirk["verts_3d"] - textbook["verts_3d"]).norm(dim=-1).mean()
    assert change_mm > 0.1  # measurable (the reference agrees to 1e-9 m)


def test_bone_kept_at_the_input_when_not_optimised() -> None:
    joints = natural_hands(3, seed=4)
    out = fitter(optimize_bone=False)(joints)
    assert_matches(out, reference_fit(joints, small_rotation_iknet(), optimize_bone=False))
    changed = 1000 * (out["verts_3d"] - fitter()(joints)["verts_3d"]).norm(dim=-1).mean()
    assert changed > 1e-3


def test_batch_regulariser_adds_the_mean_squared_distance_to_the_whole_batch() -> None:
    joints = natural_hands(8, seed=5)
    batch_fit = fitter(reg_target="batch")
    params, targets, so3_init, _ = batch_fit.prepare(joints)
    batch_objective = batch_fit.objective(params, targets)
    for i in range(8):
        single_params, single_targets, _, _ = batch_fit.prepare(joints[i : i + 1])
        single = batch_fit.objective(single_params, single_targets)[0]
        distance = ((so3_init[i] - so3_init) ** 2).mean()  # over the batch and the 48 components
        assert (batch_objective[i] - single).item() == pytest.approx(
            0.01 * distance.item(), rel=1e-9
        )
    sample_fit = fitter(reg_target="sample")
    params, targets, _, _ = sample_fit.prepare(joints)
    single_params, single_targets, _, _ = sample_fit.prepare(joints[2:3])
    assert sample_fit.objective(params, targets)[2].item() == pytest.approx(
        sample_fit.objective(single_params, single_targets)[0].item(), rel=1e-12
    )


def test_only_batch_mode_depends_on_the_rest_of_the_batch() -> None:
    joints = natural_hands(6, seed=6)
    moved_mm = {}
    for reg_target in ("batch", "sample"):
        fit = fitter(reg_target=reg_target)
        alone = fit(joints[:1])["verts_3d"][0]
        together = fit(joints)["verts_3d"][0]
        moved_mm[reg_target] = 1000 * (alone - together).norm(dim=-1).mean().item()
    assert moved_mm["batch"] > 1e-4 and moved_mm["sample"] < 1e-9, moved_mm


def test_output_placement_units_and_no_grad_call_site() -> None:
    joints = natural_hands(4, seed=7)
    fit = fitter()
    out = fit(joints)
    with torch.no_grad():
        again = fit(joints)
    for key in KEYS:
        assert torch.equal(out[key], again[key]), key
        assert not out[key].requires_grad and not out[key].is_inference()
    leaf = out["verts_3d"].requires_grad_(True)  # ordinary tensors: usable by autograd later
    (grad,) = torch.autograd.grad((2 * leaf).sum(), leaf)
    assert torch.equal(grad, torch.full_like(leaf, 2.0))
    # placed at the input joint 9, scaled to the input bone |j0 - j9| (camera metres)
    torch.testing.assert_close(out["joints_3d"][:, 9], joints[:, 9], atol=1e-12, rtol=0)
    bone_in = (joints[:, 0] - joints[:, 9]).norm(dim=-1)
    bone_out = (out["joints_3d"][:, 0] - out["joints_3d"][:, 9]).norm(dim=-1)
    torch.testing.assert_close(bone_out, bone_in, atol=1e-12, rtol=0)
    # the fit moves IKNet's pose towards the joints
    init = HandTailorFitter(small_rotation_iknet(), mano=mano64(), steps=0)(joints)
    error = lambda o: (o["joints_3d"] - joints).norm(dim=-1).mean()  # noqa: E731
    assert error(out) < 0.7 * error(init)
    fit.train()
    assert fit.training and not fit.iknet.training


def test_float32_inputs_give_float32_outputs_at_float32_precision() -> None:
    joints = natural_hands(8, seed=8)
    fit = HandTailorFitter(small_rotation_iknet().float(), allow_synthetic=True)
    out = fit(joints.float())
    assert out["verts_3d"].dtype == torch.float32 and out["verts_3d"].shape == (8, 778, 3)
    assert out["joints_3d"].shape == (8, 21, 3) and out["beta"].shape == (8, 10)
    assert all(torch.isfinite(out[key]).all() for key in KEYS)
    # the fit amplifies rounding (Adam with beta2 = 0.5 normalises every gradient component): the
    # original's own float32 and float64 runs differ by ~0.05 mm on average
    ref = reference_fit(joints, small_rotation_iknet())
    error_mm = 1000 * (out["verts_3d"].double() - ref["verts_3d"]).norm(dim=-1)
    assert error_mm.mean() < 0.05 and error_mm.max() < 2.0


def test_mano_root_none_finds_the_file_like_the_rest_of_handmesh(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "models").mkdir()
    with open(tmp_path / "models" / "MANO_RIGHT.pkl", "wb") as f:  # the official pickle format
        pickle.dump(build_synthetic_mano_dict("right"), f, protocol=2)
    monkeypatch.setenv("HANDMESH_MANO_ROOT", str(tmp_path / "models"))
    fit = HandTailorFitter(IKNet(), mano_root=None)
    assert not fit.is_synthetic
    monkeypatch.setenv("HANDMESH_MANO_ROOT", str(tmp_path / "elsewhere"))
    with pytest.raises(FileNotFoundError, match=r"MANO model file not found"):
        HandTailorFitter(IKNet())
    assert HandTailorFitter(IKNet(), allow_synthetic=True).is_synthetic


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ArgumentError, match=r"reg_target must be 'batch' or 'sample', got 'mean'"):
        HandTailorFitter(IKNet(), reg_target="mean", allow_synthetic=True)  # type: ignore[arg-type]
    with pytest.raises(ArgumentError, match=r"iknet must be a handmesh.iknet.IKNet, got Linear"):
        HandTailorFitter(torch.nn.Linear(2, 2), allow_synthetic=True)  # type: ignore[arg-type]
    with pytest.raises(ArgumentError, match=r"joints_3d must be a \(B, 21, 3\) tensor"):
        HandTailorFitter(IKNet(), allow_synthetic=True)(torch.zeros(2, 20, 3))


def test_the_adam_loop_runs_on_one_cpu_thread_and_restores_the_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from handmesh.iknet.objective import FitObjective

    seen: list[int] = []
    gradient = FitObjective.gradient

    def recording(self: FitObjective) -> torch.Tensor:
        seen.append(torch.get_num_threads())
        return gradient(self)

    monkeypatch.setattr(FitObjective, "gradient", recording)
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        joints = natural_hands(2, seed=9)
        out = fitter()(joints)
        assert torch.get_num_threads() == 2
        assert seen == [1] * 20
        torch.set_num_threads(1)
        assert torch.equal(fitter()(joints)["verts_3d"], out["verts_3d"])  # same arithmetic
    finally:
        torch.set_num_threads(previous)


def test_reused_buffers_give_the_results_of_a_fresh_fitter() -> None:
    joints = natural_hands(8, seed=12)
    fit = fitter()
    first = fit(joints)
    for other in (joints[:3], joints[3:8] * 1.1, joints[:3]):  # evicts batch 8, reuses batch 3
        fit(other)
    assert len(fit._scratch) == 2
    fit.double()  # moving the constants drops the buffers built on them
    assert not fit._scratch
    again = fit(joints)
    fresh = fitter()(joints)
    for key in KEYS:
        assert torch.equal(again[key], first[key]) and torch.equal(fresh[key], first[key]), key
