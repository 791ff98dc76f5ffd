"""Write a small OakInk-Image release tree in the real on-disk formats (a test fixture generator).

``make_oakink_tree(data_dir)`` writes ``<data_dir>/image/...`` as the v2.1 release lays it out:
split JSON lists (unsorted, as the release's are not sorted), ``seq_status.json``, per-sample
annotation pickles (numpy arrays; ``general_info`` holding torch tensors, pickled with plain
``pickle`` as the release's are), object meshes (a non-centred ``.obj`` with texture and normal
indices and a quad, a non-centred binary ``.ply``, an ascii ``.ply``) and 848 x 480 RGB PNG
images. Four sequences over two cameras (cam ids 0 and 2): two "use"/"hold" sequences of object
A01001, a "liftup" sequence of S10002 with a hand at the image's left border, and a two-subject
handover sequence of S10002 (each frame listed once per subject, both sharing one image).

The returned ``OakInkTree`` keeps every generated value, so tests compare the readers against the
values the files were written from.
"""

from __future__ import annotations

import dataclasses
import json
import pickle
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch

RAW_SIZE = (848, 480)  # (W, H)
CAMERA_NAMES = ("north_east_color", "south_east_color", "north_west_color", "south_west_color")
CAMS = (0, 2)
INTRINSICS = {
    0: ((610.0, 0.0, 426.5), (0.0, 604.0, 238.0)),
    2: ((598.0, 0.0, 421.0), (0.0, 601.5, 243.5)),
}
SEQUENCES = (
    # (seq "<seq_id>/<timestamp>", frames, subjects flags)
    ("A01001_0001_0000/2021-09-26-19-59-58", (0, 4, 8), (0,)),
    ("A01001_0002_0001/2021-09-27-10-11-12", (1, 5), (0,)),
    ("S10002_0003_0002/2021-10-02-08-00-00", (2, 6), (0,)),
    ("S10002_0004_0003_0001/2021-10-03-09-30-00", (3, 7), (0, 1)),
)
BORDER_ITEM = ("S10002_0003_0002/2021-10-02-08-00-00", 0, 2, 0)
"""A sample whose hand crosses the image's left border (some joints have u < 0)."""
HANDOVER_SEQ = SEQUENCES[3][0]
OBJ_OFFSETS = {
    "A01001": (0.10, -0.05, 0.20),
    "S10002": (-0.30, 0.20, 0.05),
    "C12003": (1.0, 2.0, 3.0),
}
STATUS = {SEQUENCES[0][0]: "normal", SEQUENCES[1][0]: "normal", SEQUENCES[2][0]: "occluded",
          SEQUENCES[3][0]: "two_hands"}  # fmt: skip
SPLIT_KEYS = {
    "default": "split0",
    "subject": "split1",
    "object": "split2",
    "handobject": "split0_ho",
}


@dataclass
class GeneratedSample:
    item: tuple[str, int, int, int]
    cam_intr: np.ndarray  # (3, 3) float32
    cam_extr: torch.Tensor  # (4, 4) float32, world -> camera
    joints: np.ndarray  # (21, 3) float32, camera metres
    verts: np.ndarray  # (778, 3) float32
    hand_pose: torch.Tensor  # (16, 4) float32 quaternions (w, x, y, z), world frame
    hand_shape: torch.Tensor  # (10,)
    obj_transf: np.ndarray  # (4, 4) float64 as stored


@dataclass
class OakInkTree:
    data_dir: Path
    root: Path  # data_dir / "image"
    samples: dict[str, GeneratedSample] = field(default_factory=dict)  # by info_str
    splits: dict[str, list[list]] = field(default_factory=dict)  # relative split path -> entries
    objects: dict[str, tuple[Path, np.ndarray, np.ndarray]] = field(default_factory=dict)

    def copy_to(self, data_dir: str | Path) -> OakInkTree:
        """The same tree copied to ``data_dir`` (faster than writing it again)."""
        data_dir = Path(data_dir)
        shutil.copytree(self.data_dir, data_dir)
        objects = {
            obj_id: (data_dir / path.relative_to(self.data_dir), verts, faces)
            for obj_id, (path, verts, faces) in self.objects.items()
        }
        return dataclasses.replace(
            self, data_dir=data_dir, root=data_dir / "image", objects=objects
        )


def info_name(item: tuple) -> str:
    seq, sbj, frame, cam = item
    seq_id, stamp = seq.split("/")
    return f"{seq_id}__{stamp}__{sbj}__{frame}__{cam}"


def write_pickle(path: Path, obj: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as file:
        pickle.dump(obj, file)


def _rotation(rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def _quaternions(rng: np.random.Generator) -> np.ndarray:
    """16 unit quaternions (w, x, y, z); every other one with w < 0 (stored as the release may)."""
    quats = rng.standard_normal((16, 4))
    quats /= np.linalg.norm(quats, axis=1, keepdims=True)
    quats *= np.sign(quats[:, :1])  # w >= 0 ...
    quats[1::2] *= -1.0  # ... then w < 0 for joints 1, 3, 5, ...
    return quats


def _hand(
    rng: np.random.Generator, item: tuple, cam_intr: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(21, 3), (778, 3) float32 camera points around a root projecting inside the image (or at
    its left border for BORDER_ITEM)."""
    depth = rng.uniform(0.5, 0.8)
    if item == BORDER_ITEM:
        u, v = 14.0, 250.0
    else:
        u, v = rng.uniform(200, 650), rng.uniform(150, 330)
    fx, fy, cx, cy = cam_intr[0, 0], cam_intr[1, 1], cam_intr[0, 2], cam_intr[1, 2]
    root = np.array([(u - cx) / fx * depth, (v - cy) / fy * depth, depth])
    joints = root + np.clip(rng.normal(0.0, 0.035, (21, 3)), -0.08, 0.08)
    verts = root + np.clip(rng.normal(0.0, 0.04, (778, 3)), -0.09, 0.09)
    return joints.astype(np.float32), verts.astype(np.float32)


def _frames(frames: tuple[int, ...], frames_scale: int) -> list[int]:
    return [frame + 10 * repeat for repeat in range(frames_scale) for frame in frames]


def _items(frames_scale: int) -> list[tuple[str, int, int, int]]:
    return [
        (seq, sbj, frame, cam)
        for seq, frames, subjects in SEQUENCES
        for frame in _frames(frames, frames_scale)
        for cam in CAMS
        for sbj in subjects
    ]


def _write_image(path: Path, rng: np.random.Generator) -> None:
    """An RGB image with every value in [30, 230] (a crop's zeros can only come from outside)."""
    width, height = RAW_SIZE
    gx = np.linspace(0.0, 1.0, width)[None, :, None]
    gy = np.linspace(0.0, 1.0, height)[:, None, None]
    base = rng.uniform(40, 120, 3) + 60 * gx * rng.uniform(0, 1, 3) + 50 * gy * rng.uniform(0, 1, 3)
    image = np.clip(base + rng.normal(0, 8, (height, width, 3)), 30, 230).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))


BOX = np.array([[x, y, z] for z in (0, 1) for y in (0, 1) for x in (0, 1)], dtype=np.float64)


def _write_objects(tree: OakInkTree) -> None:
    obj_dir = tree.root / "obj"
    obj_dir.mkdir(parents=True, exist_ok=True)
    # A01001.obj: a 0.1 x 0.06 x 0.04 box, off-centre, v/vt/vn faces, one quad
    verts = BOX * [0.1, 0.06, 0.04] + OBJ_OFFSETS["A01001"]
    quads = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    lines = ["# box", "mtllib box.mtl", "o box"]
    lines += [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in verts]
    lines += ["vt 0 0", "vt 1 0", "vt 1 1", "vn 0 0 1", "usemtl skin"]
    faces = []
    lines.append("f " + " ".join(f"{i + 1}/{k % 3 + 1}/1" for k, i in enumerate(quads[0])))
    faces += [(quads[0][0], quads[0][1], quads[0][2]), (quads[0][0], quads[0][2], quads[0][3])]
    for quad in quads[1:]:
        for tri in ((quad[0], quad[1], quad[2]), (quad[0], quad[2], quad[3])):
            lines.append("f " + " ".join(f"{i + 1}//1" for i in tri))
            faces.append(tri)
    path = obj_dir / "A01001.obj"
    path.write_text("\n".join(lines) + "\n")
    tree.objects["A01001"] = (path, verts, np.array(faces))
    # S10002.ply: binary little endian, float xyz + normals + uchar colour, uchar/int face lists
    verts = BOX * [0.05, 0.2, 0.05] + OBJ_OFFSETS["S10002"]
    tris = np.array([(0, 1, 3), (0, 3, 2), (4, 6, 7), (4, 7, 5), (0, 4, 5), (0, 5, 1)])
    header = (
        "ply\nformat binary_little_endian 1.0\ncomment made by the test\n"
        f"element vertex {len(verts)}\nproperty float x\nproperty float y\nproperty float z\n"
        "property float nx\nproperty float ny\nproperty float nz\nproperty uchar red\n"
        f"element face {len(tris)}\nproperty list uchar int vertex_indices\nend_header\n"
    )
    vdtype = np.dtype([(k, "<f4") for k in ("x", "y", "z", "nx", "ny", "nz")] + [("red", "u1")])
    vrows = np.zeros(len(verts), dtype=vdtype)
    for axis, name in enumerate("xyz"):
        vrows[name] = verts[:, axis]
    body = vrows.tobytes() + b"".join(
        np.uint8(3).tobytes() + tri.astype("<i4").tobytes() for tri in tris
    )
    path = obj_dir / "S10002.ply"
    path.write_bytes(header.encode("ascii") + body)
    tree.objects["S10002"] = (path, verts.astype(np.float32).astype(np.float64), tris)
    # C12003.ply: ascii, a quad and a triangle (not used by any sequence)
    verts = np.array([[0, 0, 0], [2, 0, 0], [2, 1, 0], [0, 1, 0], [0, 0, 4]], float)
    verts = verts + OBJ_OFFSETS["C12003"]
    text = (
        "ply\nformat ascii 1.0\nelement vertex 5\nproperty double x\nproperty double y\n"
        "property double z\nelement face 2\nproperty list uchar int vertex_indices\nend_header\n"
        + "".join(f"{x} {y} {z}\n" for x, y, z in verts)
        + "4 0 1 2 3\n3 0 1 4\n"
    )
    path = obj_dir / "C12003.ply"
    path.write_text(text)
    tree.objects["C12003"] = (path, verts, np.array([(0, 1, 2), (0, 2, 3), (0, 1, 4)]))


def _split_lists(items: list[tuple], rng: np.random.Generator) -> dict[str, list[tuple]]:
    """Relative split path -> items (shuffled: the release's lists are not sorted)."""
    seqs = [seq for seq, _, _ in SEQUENCES]
    test_cam = {seqs[0]: 2, seqs[1]: 0, seqs[2]: 2, seqs[3]: 0}
    view_test = [it for it in items if it[3] == test_cam[it[0]]]
    view_train = [it for it in items if it[3] != test_cam[it[0]]]
    subject_test = [it for it in items if "0001" in it[0].split("/")[0].split("_")[2:]]
    subject_train = [it for it in items if it not in subject_test]
    object_test = [it for it in items if it[0].startswith("S10002")]
    object_train = [it for it in items if it not in object_test]
    contact = items[::2]
    lists = {
        "seq_all.json": items,
        "split/split0/seq_train.json": view_train,
        "split/split0/seq_test.json": view_test,
        "split/split0_ho/seq_train.json": [it for it in view_train if it in contact],
        "split/split0_ho/seq_test.json": [it for it in view_test if it in contact],
        "split/split1/seq_train.json": subject_train,
        "split/split1/seq_test.json": subject_test,
        "split/split2/seq_train.json": object_train,
        "split/split2/seq_test.json": object_test,
    }
    val_seq = {"split0": seqs[1], "split1": seqs[2], "split2": seqs[1]}
    for key, train in (("split0", view_train), ("split1", subject_train), ("split2", object_train)):
        lists[f"split_train_val/{key}/example_split_val.json"] = [
            it for it in train if it[0] == val_seq[key]
        ]
        lists[f"split_train_val/{key}/example_split_train.json"] = [
            it for it in train if it[0] != val_seq[key]
        ]
    shuffled = {}
    for name, entries in lists.items():
        order = rng.permutation(len(entries))
        shuffled[name] = [entries[i] for i in order]
    return shuffled


def make_oakink_tree(
    data_dir: str | Path, *, images: bool = True, frames_scale: int = 1, seed: int = 0
) -> OakInkTree:
    """Write the tree under ``<data_dir>/image`` and return what was written (22 samples).

    Args:
        images: write the PNG images (the packer never reads them).
        frames_scale: repeat each sequence's frames this many times (22 x frames_scale samples).
        seed: the generator's seed (the same seed writes the same files).
    """
    rng = np.random.default_rng(seed)
    data_dir = Path(data_dir)
    tree = OakInkTree(data_dir=data_dir, root=data_dir / "image")
    anno = tree.root / "anno"
    anno.mkdir(parents=True, exist_ok=True)
    extrinsics = {}
    for cam in CAMS:
        transform = np.eye(4)
        transform[:3, :3] = _rotation(rng)
        transform[:3, 3] = rng.uniform(-0.5, 0.5, 3)
        extrinsics[cam] = torch.from_numpy(transform.astype(np.float32))
    items = _items(frames_scale)
    for item in items:
        name = info_name(item)
        cam = item[3]
        (fx, _, cx), (_, fy, cy) = INTRINSICS[cam]
        cam_intr = np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1]], dtype=np.float32)
        joints, verts = _hand(rng, item, cam_intr)
        obj_transf = np.eye(4)
        obj_transf[:3, :3] = _rotation(rng)
        obj_transf[:3, 3] = rng.uniform(-0.1, 0.1, 3) + [0, 0, 0.6]
        sample = GeneratedSample(
            item=item,
            cam_intr=cam_intr,
            cam_extr=extrinsics[cam],
            joints=joints,
            verts=verts,
            hand_pose=torch.from_numpy(_quaternions(rng).astype(np.float32)),
            hand_shape=torch.from_numpy(rng.normal(0, 1, 10).astype(np.float32)),
            obj_transf=obj_transf,
        )
        tree.samples[name] = sample
        general_info = {
            "hand_anno": {
                "hand_tsl": torch.from_numpy(rng.normal(0, 0.1, 3).astype(np.float32)),
                "hand_shape": sample.hand_shape,
                "hand_pose": sample.hand_pose,
            },
            "cam_extr": sample.cam_extr,
            "cam_intr": torch.from_numpy(cam_intr),
            "obj_anno": torch.from_numpy(
                np.linalg.inv(extrinsics[cam].double().numpy()) @ obj_transf
            ),
        }
        write_pickle(anno / "general_info" / f"{name}.pkl", general_info)
        write_pickle(anno / "cam_intr" / f"{name}.pkl", cam_intr)
        write_pickle(anno / "hand_j" / f"{name}.pkl", joints)
        write_pickle(anno / "hand_v" / f"{name}.pkl", verts)
        write_pickle(anno / "obj_transf" / f"{name}.pkl", obj_transf)
    for name, entries in _split_lists(items, rng).items():
        as_json = [list(entry) for entry in entries]
        tree.splits[name] = as_json
        path = anno / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(as_json))
    (anno / "seq_status.json").write_text(json.dumps(STATUS))
    _write_objects(tree)
    if images:
        for seq, frames, _ in SEQUENCES:
            for frame in _frames(frames, frames_scale):
                for cam in CAMS:
                    path = (
                        tree.root / "stream_release_v2" / seq / f"{CAMERA_NAMES[cam]}_{frame}.png"
                    )
                    _write_image(path, rng)
    return tree
