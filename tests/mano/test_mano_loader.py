"""MANO loading: chumpy-typed pickles read without chumpy, unsafe pickles refused, clear errors."""

from __future__ import annotations

import io
import logging
import os
import pickle
import struct
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse

from handmesh.errors import DataError
from handmesh.io import UnsafePickleError, safe_load_pickle
from handmesh.mano import MANO_JOINT_NAMES, load_mano_model, loader
from handmesh.mano.loader import model_from_dict

ROOT_SENTINEL = 4294967295  # kintree_table[0, 0] in the official files (uint32 -1)
MANO_KINTREE_PARENTS = (ROOT_SENTINEL, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14)
CHUMPY_KEYS = ("shapedirs", "v_template", "weights")


# MANO's template frame (right hand): fingers toward -x, back of the hand +y, thumb side +z
_KNUCKLES = {"wrist": (0.095, 0.0, 0.0), "index1": (0.0, 0.0, 0.02), "middle1": (0.0, 0.0, 0.0)}
_KNUCKLES["pinky1"] = (0.01, 0.0, -0.04)


def random_mano_dict(seed: int = 0, side: str = "right") -> dict:
    """Random but plausible arrays with the official MANO pickle keys, shapes and types; the
    wrist and three knuckles sit where a ``side`` hand's are (so the chirality check passes)."""
    rng = np.random.default_rng(seed)
    v_template = rng.normal(0.0, 0.04, (778, 3))
    regressor = np.zeros((16, 778))
    for joint in range(16):
        ids = rng.choice(778, 8, replace=False)
        regressor[joint, ids] = rng.uniform(0.5, 1.0, 8)
    for name, position in _KNUCKLES.items():  # one-hot rows on four vertices placed by hand
        joint = MANO_JOINT_NAMES.index(name)
        vertex = 774 + list(_KNUCKLES).index(name)
        regressor[joint] = 0.0
        regressor[joint, vertex] = 1.0
        v_template[vertex] = np.array(position) * (1.0 if side == "right" else (-1.0, 1.0, 1.0))
    regressor /= regressor.sum(1, keepdims=True)
    weights = rng.uniform(0.0, 1.0, (778, 16)) ** 4
    weights /= weights.sum(1, keepdims=True)
    components = np.linalg.qr(rng.normal(size=(45, 45)))[0].T
    return {
        "v_template": v_template,
        "f": rng.integers(0, 778, (1538, 3)).astype(np.uint32),
        "J_regressor": scipy.sparse.csc_matrix(regressor),
        "kintree_table": np.array([MANO_KINTREE_PARENTS, np.arange(16)], dtype=np.int64),
        "weights": weights,
        "posedirs": rng.normal(0.0, 0.005, (778, 3, 135)),
        "shapedirs": rng.normal(0.0, 0.005, (778, 3, 10)),
        "hands_components": components,
        "hands_mean": rng.normal(0.0, 0.2, 45),
        "bs_type": "lrotmin",
        "bs_style": "lbs",
    }


class Python2StylePickler(pickle._Pickler):
    """Writes bytes as Python 2 ``str`` opcodes (what the official Python 2 pickles contain)."""

    dispatch = dict(pickle._Pickler.dispatch)

    def save_python2_str(self, obj: bytes) -> None:
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_python2_str


OLD_MODULE_PATHS = {  # numpy < 2 and scipy < 1.8 module paths, as in the official files
    b"numpy._core.multiarray\n": b"numpy.core.multiarray\n",
    b"scipy.sparse._csc\n": b"scipy.sparse.csc\n",
}


def write_chumpy_pickle(path: Path, raw: dict, python2_style: bool = False) -> None:
    """Write ``raw`` like the official files: protocol 2, some entries chumpy ``Ch`` objects.

    The stand-in class is pickled as ``chumpy.ch.Ch`` with its array in the state under 'x', as
    chumpy does; the fake modules exist only while pickling.
    """

    class Ch:
        def __init__(self, x: np.ndarray) -> None:
            self.x = x
            self._dirty_vars = {"x"}
            self._make_dense = False

    Ch.__module__, Ch.__qualname__ = "chumpy.ch", "Ch"
    package, module = types.ModuleType("chumpy"), types.ModuleType("chumpy.ch")
    package.ch, module.Ch = module, Ch
    wrapped = {key: Ch(value) if key in CHUMPY_KEYS else value for key, value in raw.items()}
    sys.modules.update({"chumpy": package, "chumpy.ch": module})
    try:
        buffer = io.BytesIO()
        pickler = Python2StylePickler if python2_style else pickle.Pickler
        pickler(buffer, protocol=2).dump(wrapped)
    finally:
        del sys.modules["chumpy.ch"], sys.modules["chumpy"]
    payload = buffer.getvalue()
    if python2_style:
        for new, old in OLD_MODULE_PATHS.items():
            assert new in payload
            payload = payload.replace(new, old)
    path.write_bytes(payload)


@pytest.mark.parametrize("python2_style", [False, True])
def test_chumpy_pickle_loads_without_chumpy(tmp_path: Path, python2_style: bool) -> None:
    raw = random_mano_dict()
    write_chumpy_pickle(tmp_path / "MANO_RIGHT.pkl", raw, python2_style)
    assert "chumpy" not in sys.modules

    loaded = safe_load_pickle(tmp_path / "MANO_RIGHT.pkl")
    assert isinstance(loaded["shapedirs"], np.ndarray)
    np.testing.assert_array_equal(loaded["shapedirs"], raw["shapedirs"])
    assert scipy.sparse.issparse(loaded["J_regressor"])
    np.testing.assert_array_equal(loaded["J_regressor"].toarray(), raw["J_regressor"].toarray())

    model = load_mano_model(tmp_path, side="right")  # the folder form of the path
    assert model.source == str((tmp_path / "MANO_RIGHT.pkl").resolve())
    assert not model.is_synthetic and model.side == "right"
    for key, attr in [("v_template", "v_template"), ("weights", "weights"), ("f", "faces")]:
        np.testing.assert_array_equal(getattr(model, attr), raw[key])
    for key in ("posedirs", "shapedirs", "hands_components", "hands_mean", "kintree_table"):
        np.testing.assert_array_equal(getattr(model, key), raw[key])
    np.testing.assert_array_equal(model.J_regressor, raw["J_regressor"].toarray())
    assert model.faces.dtype == np.int64 and model.J_regressor.dtype == np.float64
    assert model.parents == (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14)
    assert not model.v_template.flags.writeable  # cached data cannot be modified by a user
    assert load_mano_model(tmp_path / "MANO_RIGHT.pkl") is model  # cached per file and side


def test_environment_variable_and_models_subfolder(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "models").mkdir()
    write_chumpy_pickle(tmp_path / "models" / "MANO_LEFT.pkl", random_mano_dict(3, "left"))
    monkeypatch.setenv("HANDMESH_MANO_ROOT", str(tmp_path))
    model = load_mano_model(side="left")
    assert model.side == "left"
    assert model.source.endswith(os.path.join("models", "MANO_LEFT.pkl"))


def _evil_payload(marker: Path) -> bytes:
    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    return pickle.dumps({"v_template": Evil()}, protocol=2)


def test_reduce_to_system_call_is_refused_before_running(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    path.write_bytes(_evil_payload(marker))
    with pytest.raises(UnsafePickleError, match=rf"{os.system.__module__}\.system"):
        safe_load_pickle(path)
    assert not marker.exists()


@pytest.mark.parametrize("module, name", [("os", "system"), ("builtins", "eval")])
def test_hand_written_global_is_refused_by_name(tmp_path: Path, module: str, name: str) -> None:
    marker = tmp_path / "pwned"
    argument = f"touch {marker}" if name == "system" else f"open({str(marker)!r}, 'w')"
    arg = argument.encode()
    payload = b"\x80\x02c" + f"{module}\n{name}\n".encode() + b"X" + len(arg).to_bytes(4, "little")
    payload += arg + b"\x85R."
    path = tmp_path / "evil.pkl"
    path.write_bytes(payload)
    with pytest.raises(UnsafePickleError, match=rf"{module}\.{name}") as error:
        safe_load_pickle(path)
    assert str(path) in str(error.value)
    assert not marker.exists()


def test_unsafe_mano_file_is_refused_by_the_loader(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    (tmp_path / "MANO_RIGHT.pkl").write_bytes(_evil_payload(marker))
    with pytest.raises(UnsafePickleError, match="system"):
        load_mano_model(tmp_path)
    assert not marker.exists()


def test_missing_file_message(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as error:
        load_mano_model(tmp_path / "nowhere", side="left")
    message = str(error.value)
    assert str(tmp_path / "nowhere" / "MANO_LEFT.pkl") in message
    for expected in (
        "https://mano.is.tue.mpg.de",
        "Models & Code",
        "mano_v1_2.zip",
        "assets/mano_v1_2/models/MANO_RIGHT.pkl",
        "MANO_LEFT.pkl",
        "HANDMESH_MANO_ROOT",
        "allow_synthetic=True",
        "DATA_PRESET.ALLOW_SYNTHETIC_MANO",
    ):
        assert expected in message


def test_default_location_is_relative_to_cwd(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("HANDMESH_MANO_ROOT", raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match="assets/mano_v1_2/models/MANO_RIGHT.pkl"):
        load_mano_model()
    folder = tmp_path / "assets" / "mano_v1_2" / "models"
    folder.mkdir(parents=True)
    write_chumpy_pickle(folder / "MANO_RIGHT.pkl", random_mano_dict(seed=5))
    assert load_mano_model().source == str((folder / "MANO_RIGHT.pkl").resolve())


def test_synthetic_fallback_uses_the_pickle_conversion(tmp_path: Path, monkeypatch, caplog) -> None:
    raw = random_mano_dict(seed=7)
    fake = types.ModuleType("handmesh.mano.synthetic")
    fake.build_synthetic_mano_dict = lambda side: raw
    monkeypatch.setitem(sys.modules, "handmesh.mano.synthetic", fake)
    monkeypatch.setattr(loader, "_CACHE", {})
    with caplog.at_level(logging.WARNING, logger="handmesh"):
        model = load_mano_model(tmp_path / "nowhere", side="left", allow_synthetic=True)
    assert model.is_synthetic and model.source == "synthetic" and model.side == "left"
    np.testing.assert_array_equal(model.J_regressor, raw["J_regressor"].toarray())
    np.testing.assert_array_equal(model.faces, raw["f"])
    assert any("SYNTHETIC" in record.getMessage() for record in caplog.records)


def test_builtin_synthetic_model_loads(tmp_path: Path) -> None:
    pytest.importorskip("handmesh.mano.synthetic")
    model = load_mano_model(tmp_path / "nowhere", side="right", allow_synthetic=True)
    assert model.is_synthetic and model.source == "synthetic"
    assert model.v_template.shape == (778, 3) and model.J_regressor.shape == (16, 778)


@pytest.mark.parametrize(
    "key, value, expected",
    [
        ("posedirs", np.zeros((778, 3, 10)), r"'posedirs' has shape \(778, 3, 10\), expected"),
        ("hands_mean", None, r"missing key\(s\) \['hands_mean'\]"),
        ("f", np.full((1538, 3), 900), "'f' holds vertex ids outside"),
    ],
)
def test_bad_arrays_are_named(key: str, value, expected: str) -> None:
    raw = random_mano_dict()
    if value is None:
        del raw[key]
    else:
        raw[key] = value
    with pytest.raises(DataError, match=expected) as error:
        model_from_dict(raw, "some/MANO_RIGHT.pkl", "right")
    assert "some/MANO_RIGHT.pkl" in str(error.value)


def test_bad_side_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'right' or 'left'.*'middle'"):
        load_mano_model(tmp_path, side="middle")


def test_chumpy_expression_without_array_is_named(tmp_path: Path, monkeypatch) -> None:
    class add:
        def __init__(self) -> None:
            self.a, self.b = np.zeros(2), np.ones(2)

    add.__module__, add.__qualname__ = "chumpy.ch_ops", "add"
    module = types.ModuleType("chumpy.ch_ops")
    module.add = add
    monkeypatch.setitem(sys.modules, "chumpy", types.ModuleType("chumpy"))
    monkeypatch.setitem(sys.modules, "chumpy.ch_ops", module)
    payload = pickle.dumps({"J": add()}, protocol=2)
    monkeypatch.undo()
    assert "chumpy.ch_ops" not in sys.modules
    with pytest.raises(UnsafePickleError, match=r"chumpy\.ch_ops\.add holds no stored array"):
        safe_load_pickle(io.BytesIO(payload))


def test_file_of_the_other_side_is_refused(tmp_path: Path) -> None:
    write_chumpy_pickle(tmp_path / "MANO_RIGHT.pkl", random_mano_dict(seed=5))
    with pytest.raises(DataError, match=r"MANO_RIGHT\.pkl is not the left hand's model"):
        load_mano_model(tmp_path / "MANO_RIGHT.pkl", side="left")
    with pytest.raises(DataError, match=r"pass MANO_RIGHT\.pkl"):
        load_mano_model(tmp_path / "MANO_LEFT.pkl", side="right")  # refused even when missing
    assert load_mano_model(tmp_path / "MANO_RIGHT.pkl", side="right").side == "right"


def test_preset_rule_explicit_root_then_env_then_synthetic(tmp_path: Path, monkeypatch) -> None:
    from handmesh.errors import DataNotFoundError
    from handmesh.mano import load_mano_from_preset

    explicit, env = tmp_path / "explicit", tmp_path / "env"
    for folder, seed in ((explicit, 1), (env, 2)):
        folder.mkdir()
        write_chumpy_pickle(folder / "MANO_RIGHT.pkl", random_mano_dict(seed=seed))
    monkeypatch.setenv("HANDMESH_MANO_ROOT", str(env))
    assert load_mano_from_preset({"MANO_ROOT": str(explicit)}).source.startswith(str(explicit))
    assert load_mano_from_preset({"MANO_ROOT": ""}).source.startswith(str(env))
    monkeypatch.setenv("HANDMESH_MANO_ROOT", str(tmp_path / "nowhere"))
    monkeypatch.chdir(tmp_path)  # no assets/ here
    with pytest.raises(DataNotFoundError, match="HANDMESH_MANO_ROOT"):
        load_mano_from_preset({})
    assert load_mano_from_preset({"ALLOW_SYNTHETIC_MANO": True}).is_synthetic


def test_a_left_model_under_the_right_name_is_refused(tmp_path: Path) -> None:
    """The chirality of the template decides, not the file name (real MANO frames: the right
    hand's fingers point to -x with the back of the hand to +y; the left is its x mirror)."""
    from handmesh.mano.loader import template_chirality

    assert template_chirality(model_from_dict(random_mano_dict(4), "r", "right")) == "right"
    assert template_chirality(model_from_dict(random_mano_dict(4, "left"), "l", "left")) == "left"
    for side in ("right", "left"):
        synthetic = load_mano_model(tmp_path / "none", side, allow_synthetic=True)
        assert template_chirality(synthetic) == side
    write_chumpy_pickle(tmp_path / "MANO_RIGHT.pkl", random_mano_dict(seed=4, side="left"))
    with pytest.raises(DataError, match=r"loaded as the right hand, but its template is a left"):
        load_mano_model(tmp_path, side="right")
