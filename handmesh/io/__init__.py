"""File input/output: safe unpickling (more readers and writers live in sibling modules)."""

from handmesh.io.safe_pickle import UnsafePickleError, safe_load_pickle

__all__ = ["UnsafePickleError", "safe_load_pickle"]
