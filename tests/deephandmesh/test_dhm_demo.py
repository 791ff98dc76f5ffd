"""The demo: decode -> OBJ (mm, template UVs) + PNG; the encoder path; errors as one line."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from handmesh.backbones.resnet import ResNet
from handmesh.deephandmesh.hand_model import read_hand_obj
from handmesh.deephandmesh.synthetic_model import build_synthetic_template
from handmesh.demo.deephandmesh import main
from handmesh.engine.cli import run_cli
from handmesh.models import DeepHandMesh


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, DeepHandMesh]:
    torch.manual_seed(3)
    model = DeepHandMesh(template=build_synthetic_template(), backbone=ResNet(depth=18))
    with torch.no_grad():  # visible correctives, so that a wrong decode would show
        model.skin_refine_net.fc_id[2].bias.normal_(0.0, 2.0)
        model.skeleton_refine_net.fc_skeleton[2].bias.normal_(0.0, 2.0)
    path = tmp_path_factory.mktemp("ckpt") / "DeepHandMesh.pth.tar"
    torch.save({"network": {f"module.{k}": v for k, v in model.state_dict().items()}}, path)
    return path, model.eval()


def _obj_vertices(path: Path) -> np.ndarray:
    return np.array([[float(x) for x in line.split()[1:]] for line in path.read_text().splitlines()
                     if line.startswith("v ")])  # fmt: skip


def test_demo_pose_obj_in_mm_with_the_template_uvs(trained, tmp_path: Path) -> None:
    checkpoint, model = trained
    out = tmp_path / "mesh.obj"
    main(["--checkpoint", str(checkpoint), "--hand_model", "synthetic", "--out", str(out),
          "--png_size", "96"])  # fmt: skip
    euler = torch.zeros(1, 22, 3)
    euler[0, [8, 12, 16, 20], 2] = math.pi / 2  # the original demo's pose
    with torch.no_grad():
        expected = model.decode(euler)["verts_3d"][0].numpy() * 1000.0
    np.testing.assert_allclose(_obj_vertices(out), expected, atol=2e-6 * 1000)
    # the hand-model reader reads it back (it takes the file for cm: x10) with the same topology
    verts, faces, uvs, face_uvs = read_hand_obj(out)
    tpl = build_synthetic_template()
    np.testing.assert_allclose(verts / 10.0, expected, atol=1e-3)
    np.testing.assert_array_equal(faces, tpl.faces)
    np.testing.assert_array_equal(face_uvs, tpl.face_uvs)
    np.testing.assert_allclose(uvs, tpl.uvs, atol=1e-6)
    png = cv2.imread(str(out.with_suffix(".png")))
    assert png.shape == (96, 96, 3) and (png < 250).any()


def test_euler_file_and_preset(trained, tmp_path: Path) -> None:
    checkpoint, model = trained
    pose = tmp_path / "pose.json"
    pose.write_text('{"joint_euler": {"b_r_index2": [0, 0, 45]}, "degrees": true}')
    out = tmp_path / "bent.obj"
    main(["--checkpoint", str(checkpoint), "--hand_model", "synthetic", "--euler", str(pose),
          "--out", str(out), "--png", str(tmp_path / "bent.png"), "--png_size", "64"])  # fmt: skip
    euler = torch.zeros(1, 22, 3)
    euler[0, 7, 2] = math.pi / 4
    with torch.no_grad():
        expected = model.decode(euler)["verts_3d"][0].numpy() * 1000.0
    np.testing.assert_allclose(_obj_vertices(out), expected, atol=2e-3)
    assert (tmp_path / "bent.png").is_file()


def test_image_and_bbox_run_the_encoder(trained, tmp_path: Path) -> None:
    checkpoint, model = trained
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, size=(120, 90, 3), dtype=np.uint8)
    path = tmp_path / "hand.png"
    cv2.imwrite(str(path), image)
    out = tmp_path / "from_image.obj"
    main(["--checkpoint", str(checkpoint), "--hand_model", "synthetic", "--image", str(path),
          "--bbox", "10", "20", "60", "80", "--out", str(out), "--png_size", "64"])  # fmt: skip
    # the crop: the box (x 10..69, y 20..99) stretched to 256 x 256, RGB / 255
    src = np.float32([[40.0, 60.0], [40.0, 100.0], [70.0, 60.0]])
    dst = np.float32([[128, 128], [128, 256], [256, 128]])
    crop = cv2.warpAffine(image[:, :, ::-1].astype(np.float32), cv2.getAffineTransform(src, dst),
                          (256, 256), flags=cv2.INTER_LINEAR)  # fmt: skip
    with torch.no_grad():
        euler = model.encode(torch.from_numpy(crop / 255.0).permute(2, 0, 1)[None].float())
        expected = model.decode(euler)["verts_3d"][0].numpy() * 1000.0
    np.testing.assert_allclose(_obj_vertices(out), expected, atol=2e-3)


def test_bad_input_is_one_error_line(trained, tmp_path: Path, capsys) -> None:
    checkpoint, _ = trained
    code = run_cli(
        lambda: main(["--checkpoint", str(tmp_path / "none.pth"), "--hand_model", "synthetic"])
    )
    assert code == 2
    assert capsys.readouterr().err.startswith("error: Checkpoint file not found")
    code = run_cli(lambda: main(["--checkpoint", str(checkpoint), "--hand_model", str(tmp_path)]))
    assert code == 2
    assert "missing hand.obj" in capsys.readouterr().err
