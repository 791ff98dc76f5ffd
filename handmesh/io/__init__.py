"""File input/output: safe unpickling (`safe_pickle`), atomic writes (`atomic`), OBJ meshes (`obj`)
and the HO-3D CodaLab submission (`ho3d_submission`)."""

from handmesh.io.ho3d_submission import write_ho3d_submission
from handmesh.io.obj import write_obj
from handmesh.io.safe_pickle import UnsafePickleError, safe_load_pickle

__all__ = ["UnsafePickleError", "safe_load_pickle", "write_ho3d_submission", "write_obj"]
