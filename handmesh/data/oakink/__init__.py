"""OakInk-Image without oikit: the raw-release reader, split lists, the packed format and packer.

* ``layout``: where files are, ``info_str``, split-file choice;
* ``splits``: sample lists in their stored order, handover pairs;
* ``annotations``: one annotation pickle, read safely and checked;
* ``mano_pose``: oikit's camera-frame MANO pose from ``general_info``;
* ``objects``: object meshes (.obj / .ply) centred as oikit centres them;
* ``reader``: :class:`OakInkImageReader`, oikit's ``OakInkImage`` without its dependencies;
* ``packed``: the ``anno_packed`` files and their per-split ``index.json``;
* ``packer``: :func:`pack_split`, parallel and resumable (``dev/pack_oakink_image.py``).
"""

from handmesh.data.oakink.layout import (
    CAMERA_NAMES,
    DATA_SPLITS,
    MODE_SPLITS,
    InfoItem,
    info_str,
    packed_dir,
    split_file,
)
from handmesh.data.oakink.mano_pose import oakink_mano_pose
from handmesh.data.oakink.packed import PACKED_KEYS, read_packed
from handmesh.data.oakink.packer import CONFIG_PAIRS, PackFailure, PackReport, pack_split
from handmesh.data.oakink.reader import OakInkImageReader, persp_project
from handmesh.data.oakink.splits import handover_pairs, load_info_list

__all__ = [
    "CAMERA_NAMES",
    "CONFIG_PAIRS",
    "DATA_SPLITS",
    "MODE_SPLITS",
    "PACKED_KEYS",
    "InfoItem",
    "OakInkImageReader",
    "PackFailure",
    "PackReport",
    "handover_pairs",
    "info_str",
    "load_info_list",
    "oakink_mano_pose",
    "pack_split",
    "packed_dir",
    "persp_project",
    "read_packed",
    "split_file",
]
