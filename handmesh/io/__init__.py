"""File input/output: safe unpickling (`safe_pickle`) and atomic writes (`atomic`)."""

from handmesh.io.safe_pickle import UnsafePickleError, safe_load_pickle

__all__ = ["UnsafePickleError", "safe_load_pickle"]
