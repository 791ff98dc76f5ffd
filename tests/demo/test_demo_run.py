"""``run_demo`` with an oracle mesh model on rendered hands (right and left): the crop camera, the
inverse crop affine, left-hand mirroring, the translation fit and the overlay, checked against the
known scene."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from handmesh.data.datasets.handoccnet_common import joint_box
from handmesh.demo.run import DEMO_FILES, run_demo
from handmesh.mano import MANO
from handmesh.render import render_mesh

INTR = np.array([[420.0, 0.0, 100.0], [0.0, 410.0, 80.0], [0.0, 0.0, 1.0]], dtype=np.float32)
PRESET = {"IMAGE_SIZE": [128, 128], "IMAGE_NORM": "unit"}


class Oracle(nn.Module):
    """Returns the true hand as HandOccNet would: joints / vertices in a frame translated by
    ``-offset`` from the camera, 2D joints of the crop it is given (projected with the crop
    intrinsics the demo passes). It sees what the demo crops: a mirrored image for a left hand,
    so it answers with the mirrored (right) hand."""

    def __init__(
        self, joints: torch.Tensor, verts: torch.Tensor, offset: torch.Tensor, left: bool
    ) -> None:
        super().__init__()
        flip = torch.tensor([-1.0, 1.0, 1.0]) if left else torch.ones(3)
        self.joints, self.verts, self.offset = joints * flip, verts * flip, offset * flip

    def forward(self, batch: dict) -> dict:
        proj = self.joints @ batch["target_cam_intr"][0].T
        return {
            "joints_2d": (proj[:, :2] / proj[:, 2:])[None],
            "mano_joints_3d": (self.joints - self.offset)[None],
            "mano_verts_3d": (self.verts - self.offset)[None],
            "mano_pose": torch.zeros(1, 48),
            "mano_shape": torch.zeros(1, 10),
        }


@pytest.mark.parametrize("side", ["right", "left"])
def test_oracle_hand_is_put_back_where_it_was(tmp_path: Path, side: str) -> None:
    mano = MANO(side=side, model_path="/nonexistent", allow_synthetic=True)
    torch.manual_seed(0)
    out = mano(torch.randn(1, 48) * 0.2, torch.zeros(1, 10))
    where = torch.tensor([0.02, -0.01, 0.45])
    joints = out.joints[0] - out.joints[0, 9] + where
    verts = out.verts[0] - out.joints[0, 9] + where
    rendered = render_mesh(verts[None], mano.faces, torch.from_numpy(INTR), (160, 200))
    image = np.full((160, 200, 3), 40, dtype=np.uint8)
    image[rendered["mask"][0].numpy()] = 200
    proj = joints.numpy() @ INTR.T
    box = joint_box(proj[:, :2] / proj[:, 2:], (200, 160))
    offset = torch.tensor([0.01, 0.03, 0.02])  # the model's frame is off the camera by this
    model = Oracle(joints, verts, offset, side == "left")
    result = run_demo(
        model, mano.faces, image, box, tmp_path, PRESET, left=side == "left",
        fit_translation_out=True, depth=float(offset[2]), cam_intr=INTR,
    )  # fmt: skip
    assert sorted(result["files"]) == sorted(DEMO_FILES)
    assert all(Path(p).is_file() for p in result["files"].values())
    np.testing.assert_allclose(result["translation"], offset.numpy(), atol=2e-4)
    assert result["reprojection_error_px"] < 0.05
    np.testing.assert_allclose(result["joints_2d"], proj[:, :2] / proj[:, 2:], atol=1e-3)
    mask, truth = result["overlay_mask"], rendered["mask"][0].numpy()
    assert (mask & truth).sum() / (mask | truth).sum() > 0.98
    saved = json.loads((tmp_path / "prediction.json").read_text())
    assert saved["side"] == side and saved["hand_translation"] == pytest.approx(
        result["translation"].tolist()
    )
    np.testing.assert_allclose(saved["joints_3d"], joints.numpy(), atol=2e-4)
