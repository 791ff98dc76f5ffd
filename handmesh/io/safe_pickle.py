"""Restricted unpickling for MANO model files and dataset annotations (array-only pickles).

Why: ``pickle.load`` executes whatever callables the file names (``os.system``, ``builtins.eval``,
...), so a downloaded ``MANO_RIGHT.pkl`` or annotation file could run arbitrary code. The official
MANO pickles were written by Python 2 and hold numpy arrays, a scipy sparse ``J_regressor`` and
chumpy objects (``chumpy.ch.Ch``); OakInk's annotation pickles hold numpy arrays and (in
``general_info``) torch tensors pickled with plain ``pickle``. This unpickler resolves only an
allow-list of harmless reconstructors (numpy arrays, dtypes and scalars, ``set``/``frozenset``,
``collections.OrderedDict``, scipy CSC/CSR matrices under their old and new module paths, CPU torch
tensors) and turns every chumpy object into the plain numpy array its pickled state holds (under
``x``), so neither chumpy nor any other code is needed or run. Anything else is refused by name
*before* it can be called.

Torch tensors pickled with plain ``pickle`` are ``torch._utils._rebuild_tensor_v2(storage, ...)``
with the storage as ``torch.storage._load_from_bytes(<bytes of a torch.save file>)``; those bytes
are a nested pickle, which is read here with ``torch.load(..., weights_only=True)`` (torch's own
restricted unpickler) on the CPU, and the tensor is rebuilt only from a real storage, with no
backward hooks and no Python state.
"""

from __future__ import annotations

import collections
import importlib
import io
import os
import pickle
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any, Union

import numpy as np
import scipy.sparse

from handmesh.errors import DataError, DataNotFoundError, UnsafePickleError

__all__ = ["UnsafePickleError", "safe_load_pickle"]

PathOrFile = Union[str, "os.PathLike[str]", IO[bytes]]


class _Placeholder:
    """An inert stand-in created instead of a foreign class; it only records its pickled state."""

    module = ""
    name = ""

    def __new__(cls, *args: Any, **kwargs: Any) -> _Placeholder:  # NEWOBJ may pass arguments
        instance = super().__new__(cls)
        instance.state = None
        return instance

    def __setstate__(self, state: Any) -> None:
        self.state = state


class _ChumpyObject(_Placeholder):
    """Stands for any ``chumpy.*`` class; converted to ``np.asarray(state["x"])`` after loading."""


class _SparseMatrix(_Placeholder):
    """Stands for a scipy CSC/CSR matrix; rebuilt from (data, indices, indptr, shape)."""

    sparse_class: type = scipy.sparse.csc_matrix


def _placeholder_class(base: type[_Placeholder], module: str, name: str, **attrs: Any) -> type:
    return type(name, (base,), {"module": module, "name": name, **attrs})


_NDARRAY_RECONSTRUCT = np.zeros(0).__reduce__()[0]
_NUMPY_SCALAR = np.float64(0).__reduce__()[0]

_SPARSE_CLASSES = {
    "csc_matrix": scipy.sparse.csc_matrix,
    "csr_matrix": scipy.sparse.csr_matrix,
    "csc_array": scipy.sparse.csc_array,
    "csr_array": scipy.sparse.csr_array,
}
_SPARSE_MODULES = (  # scipy >= 1.8 moved the classes to private modules
    "scipy.sparse",
    "scipy.sparse.csc",
    "scipy.sparse.csr",
    "scipy.sparse._csc",
    "scipy.sparse._csr",
)
_NUMPY_MULTIARRAY = ("numpy.core.multiarray", "numpy._core.multiarray")


def _safe_reconstructor(cls: Any, base: Any, state: Any) -> Any:
    """``copyreg._reconstructor`` (protocol 0/1 objects), allowed only for our placeholders."""
    if not (isinstance(cls, type) and issubclass(cls, _Placeholder)) or base is not object:
        raise UnsafePickleError(f"refusing to reconstruct {cls!r} from base {base!r}")
    return cls.__new__(cls)


def _storage_from_bytes(data: bytes) -> Any:
    """``torch.storage._load_from_bytes`` read with torch's weights-only unpickler, on the CPU."""
    import torch

    if not isinstance(data, (bytes, bytearray)):
        raise UnsafePickleError("torch.storage._load_from_bytes is only allowed on bytes")
    try:
        return torch.load(io.BytesIO(bytes(data)), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise UnsafePickleError(
            f"refusing a pickled torch tensor: torch's weights-only loader rejects its storage "
            f"({_torch_reason(str(error))})"
        ) from None


def _torch_reason(message: str) -> str:
    """The informative line of a torch weights-only error (not its advice to disable the check)."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    for line in lines:
        if line.startswith(("Trying to load", "Unsupported", "WeightsUnpickler error:")):
            return line
    return lines[-1] if lines else message


def _rebuild_tensor(
    storage: Any,
    storage_offset: int,
    size: tuple[int, ...],
    stride: tuple[int, ...],
    requires_grad: bool = False,
    backward_hooks: Any = None,
    metadata: Any = None,
) -> Any:
    """``torch._utils._rebuild_tensor_v2`` restricted to a real storage, no hooks, no state."""
    import torch

    if not isinstance(storage, (torch.TypedStorage, torch.UntypedStorage)):
        raise UnsafePickleError(f"a pickled tensor must be built from a storage, got {storage!r}")
    if backward_hooks or metadata:
        raise UnsafePickleError("refusing a pickled tensor with backward hooks or Python state")
    tensor = torch._utils._rebuild_tensor_v2(
        storage, int(storage_offset), tuple(size), tuple(stride), False, collections.OrderedDict()
    )
    return tensor.requires_grad_(bool(requires_grad))


def _allow_list() -> dict[tuple[str, str], Any]:
    allowed: dict[tuple[str, str], Any] = {}
    for module in _NUMPY_MULTIARRAY:
        allowed[(module, "_reconstruct")] = _NDARRAY_RECONSTRUCT
        allowed[(module, "scalar")] = _NUMPY_SCALAR
    allowed[("numpy", "ndarray")] = np.ndarray
    allowed[("numpy", "dtype")] = np.dtype
    allowed[("_codecs", "encode")] = _encode_text  # Python 3 protocol-2 pickles of bytes
    for module in ("builtins", "__builtin__"):
        allowed[(module, "set")] = set
        allowed[(module, "frozenset")] = frozenset
        allowed[(module, "object")] = object
    for module in ("copyreg", "copy_reg"):
        allowed[(module, "_reconstructor")] = _safe_reconstructor
    allowed[("collections", "OrderedDict")] = collections.OrderedDict
    allowed[("torch._utils", "_rebuild_tensor_v2")] = _rebuild_tensor
    allowed[("torch.storage", "_load_from_bytes")] = _storage_from_bytes
    for module in _SPARSE_MODULES:
        for name, sparse_class in _SPARSE_CLASSES.items():
            allowed[(module, name)] = _placeholder_class(
                _SparseMatrix, module, name, sparse_class=sparse_class
            )
    return allowed


def _encode_text(text: str, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    """``_codecs.encode`` restricted to str -> bytes (what pickle uses it for)."""
    if not isinstance(text, str) or not isinstance(encoding, str):
        raise UnsafePickleError("_codecs.encode is only allowed on text")
    return text.encode(encoding, errors)


_ALLOWED = _allow_list()


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file: IO[bytes], source: str, extra: dict[tuple[str, str], Any]) -> None:
        super().__init__(file, encoding="latin1")
        self.source = source
        self.extra = extra

    def find_class(self, module: str, name: str) -> Any:
        key = (module, name)
        if key in _ALLOWED:
            return _ALLOWED[key]
        if key in self.extra:
            return self.extra[key]
        if module == "chumpy" or module.startswith("chumpy."):
            return _placeholder_class(_ChumpyObject, module, name)
        raise UnsafePickleError(
            f"{self.source}: refused: the pickle references {module}.{name}, which is not data "
            "(only numpy arrays, torch tensors, scipy sparse matrices and chumpy arrays are read, "
            "because unpickling anything else can run code from the file). Nothing from it was "
            "executed; the file is not a MANO model or annotation file as published, or has been "
            "altered."
        )


def _resolve_extra(allowed: Iterable[str] | None) -> dict[tuple[str, str], Any]:
    extra: dict[tuple[str, str], Any] = {}
    for dotted in allowed or ():
        module, _, name = dotted.rpartition(".")
        if not module:
            raise ValueError(f"allowed entry {dotted!r} must be 'module.name'")
        extra[(module, name)] = getattr(importlib.import_module(module), name)
    return extra


def _chumpy_to_array(obj: _ChumpyObject, source: str) -> np.ndarray:
    state = obj.state if isinstance(obj.state, dict) else {}
    if "x" not in state:
        raise UnsafePickleError(
            f"{source}: chumpy object {obj.module}.{obj.name} holds no stored array (state key "
            f"'x'; keys found: {sorted(state)}); only chumpy arrays can be read without chumpy"
        )
    return np.asarray(_convert(state["x"], source))


def _sparse_to_matrix(obj: _SparseMatrix, source: str) -> Any:
    state = obj.state if isinstance(obj.state, dict) else {}
    shape = state.get("_shape", state.get("shape"))
    missing = [k for k in ("data", "indices", "indptr") if k not in state]
    if missing or shape is None:
        raise UnsafePickleError(
            f"{source}: {obj.module}.{obj.name} state lacks {missing or ['_shape']} "
            f"(keys found: {sorted(state)})"
        )
    arrays = tuple(np.asarray(state[k]) for k in ("data", "indices", "indptr"))
    return obj.sparse_class(arrays, shape=tuple(int(s) for s in shape))


def _convert(obj: Any, source: str) -> Any:
    """Replace placeholders by numpy arrays / scipy matrices, recursively through containers."""
    if isinstance(obj, _ChumpyObject):
        return _chumpy_to_array(obj, source)
    if isinstance(obj, _SparseMatrix):
        return _sparse_to_matrix(obj, source)
    if isinstance(obj, dict):
        return {key: _convert(value, source) for key, value in obj.items()}
    if isinstance(obj, list):
        return [_convert(value, source) for value in obj]
    if isinstance(obj, tuple):
        return tuple(_convert(value, source) for value in obj)
    return obj


def safe_load_pickle(path_or_file: PathOrFile, allowed: Iterable[str] | None = None) -> Any:
    """Load a (Python 2 or 3) pickle holding only numpy/torch/scipy/chumpy data, without running
    code.

    Args:
        path_or_file: a file path or a binary file object.
        allowed: extra trusted globals as ``"module.name"`` strings (imported and used as is).

    Returns:
        The unpickled object; chumpy objects become numpy arrays, sparse matrices are rebuilt as
        ``scipy.sparse`` CSC/CSR matrices, torch tensors are CPU tensors.

    Raises:
        DataNotFoundError: the path does not exist (a FileNotFoundError).
        DataError: the file is not a readable pickle (corrupt or truncated).
        UnsafePickleError: the pickle references a global outside the allow-list (the message names
            ``module.name``), holds a chumpy expression with no stored array, or a tensor whose
            nested storage pickle torch's weights-only loader refuses.
    """
    extra = _resolve_extra(allowed)
    if isinstance(path_or_file, (str, os.PathLike)):
        path = Path(path_or_file)
        if not path.is_file():
            raise DataNotFoundError(f"Pickle file not found: {path}")
        with path.open("rb") as file:
            return _load(file, str(path), extra)
    source = str(getattr(path_or_file, "name", "<file object>"))
    return _load(path_or_file, source, extra)


def _load(file: IO[bytes], source: str, extra: dict[tuple[str, str], Any]) -> Any:
    try:
        raw = _RestrictedUnpickler(file, source, extra).load()
    except UnsafePickleError as error:
        message = str(error)
        if message.startswith(source):
            raise
        raise UnsafePickleError(f"{source}: {message}") from None
    except (
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        TypeError,
        AttributeError,
        KeyError,
        IndexError,
        RuntimeError,  # torch.load on damaged nested storage bytes
    ) as error:
        raise DataError(
            f"{source}: not a readable pickle ({type(error).__name__}: {error})"
        ) from None
    return _convert(raw, source)
