"""The config schema and its defaults: OakInk-HMR's yacs layout (DESIGN §3).

Top-level sections, in the order they are dumped:

* ``DATA_PRESET``: crop, normalisation and target settings shared by the datasets and the models.
* ``DATASET.TRAIN`` / ``DATASET.TEST``: dataset nodes (``TYPE`` plus any keys); the dataset classes
  validate them.
* ``TRAIN``: optimisation and logging.
* ``MODEL``: ``TYPE``, ``BACKBONE``, ``HEAD``, ``LOSS``, ``METRIC``, ... (any keys); the model
  classes validate them.
* ``TEST``: evaluation: ``METRIC`` (overrides ``MODEL.METRIC``) and ``POSTPROCESS`` (registered
  test-time steps between the model and the metrics, e.g. the HandTailor fit).

``DATA_PRESET``, ``TRAIN``, ``TEST`` and ``DATASET`` are closed: every accepted key is listed here, so a
misspelled key fails when a file is loaded. Other top-level sections may be added freely.
"""

from __future__ import annotations

from handmesh.config.node import SECTION_ORDER, CfgNode
from handmesh.geometry.camera import UVD_DEPTH_RANGE

__all__ = [
    "DEFAULT_AUG_PARAM",
    "GRAD_CLIP_MODES",
    "IMAGE_NORMS",
    "OPTIMIZERS",
    "SCHEDULERS",
    "SECTION_ORDER",
    "TRANSFORMS",
    "ZERO_AUG_PARAM",
    "get_default_config",
]

OPTIMIZERS = ("Adam", "SGD")
"""Accepted TRAIN.OPTIMIZER values (compared case-insensitively: OakInk's configs say "adam")."""

SCHEDULERS = ("MultiStepLR", "StepLR", "CosineAnnealingLR")
"""Accepted TRAIN.SCHEDULER values. "StepLR" is OakInk's default string and means the same as
"MultiStepLR": the LR is multiplied by LR_DECAY_GAMMA at each epoch listed in LR_DECAY_STEP
(OakInk always built MultiStepLR). "CosineAnnealingLR" anneals from LR to 0 over EPOCH epochs."""

GRAD_CLIP_MODES = ("global", "per_tensor")
"""Accepted TRAIN.GRAD_CLIP.MODE values: "global" clips the norm of all gradients together
(``clip_grad_norm_`` over all parameters); "per_tensor" clips each parameter tensor on its own,
as OakInk-HMR did, which reproduces the published training."""

IMAGE_NORMS = ("minus_half", "unit")
"""Accepted DATA_PRESET.IMAGE_NORM values: "minus_half" gives RGB / 255 - 0.5 (OakInk models),
"unit" gives RGB / 255 (HandOccNet)."""

TRANSFORMS = ("oakink", "handoccnet")
"""Accepted DATA_PRESET.TRANSFORM values: the OakInk-HMR crop-and-augment pipeline or
HandOccNet's."""


def _frozen(node: CfgNode) -> CfgNode:
    node.freeze()
    return node


# OakInk-HMR's augmentation presets for a dataset node's AUG_PARAM (keys: SCALE_JIT, std of the
# bbox scale jitter; COLOR_JIT, per-channel gain U(1 -+ COLOR_JIT); ROT_JIT, std of the in-plane
# rotation in degrees; ROT_PROB; OCCLUSION, OCCLUSION_PROB: paste a noise rectangle in the bbox).
# OakInk uses DEFAULT_AUG_PARAM when AUG is true and AUG_PARAM is None, ZERO_AUG_PARAM when AUG
# is false. Frozen; clone() to change.
DEFAULT_AUG_PARAM = _frozen(
    CfgNode(
        {
            "SCALE_JIT": 0.125,
            "COLOR_JIT": 0.3,
            "ROT_JIT": 60.0,
            "ROT_PROB": 1.0,
            "OCCLUSION": True,
            "OCCLUSION_PROB": 0.3,
        }
    )
)
ZERO_AUG_PARAM = _frozen(
    CfgNode(
        {
            "SCALE_JIT": 0.0,
            "COLOR_JIT": 0.0,
            "ROT_JIT": 0.0,
            "ROT_PROB": 0.0,
            "OCCLUSION": False,
            "OCCLUSION_PROB": 0.0,
        }
    )
)


def _data_preset() -> CfgNode:
    node = CfgNode()
    node.PRESET_TYPE = ""  # stored by OakInk's configs, unused
    node.USE_CACHE = True  # stored by OakInk's configs, unused
    node.BBOX_EXPAND_RATIO = 1.7  # square crop side = this x the 2D joints' bbox extent
    node.IMAGE_SIZE = (256, 256)  # crop (W, H), pixels
    node.HEATMAP_SIZE = (64, 64)  # (W, H), or (D, H, W) for I2L-MeshNet's 3D heatmaps
    node.HEATMAP_SIGMA = 2.0  # Gaussian heatmap sigma, heatmap cells
    node.CENTER_IDX = 9  # root joint (canonical 21-joint order): 9 middle MCP, 0 wrist
    # metres mapped to d in [0, 1] by the uvd codec (handmesh.codecs.UVDCodec): targets and models
    node.UVD_DEPTH_RANGE = UVD_DEPTH_RANGE
    node.IMAGE_NORM = "minus_half"  # one of IMAGE_NORMS
    node.TRANSFORM = "oakink"  # one of TRANSFORMS
    # Folder (or file) holding MANO_RIGHT.pkl / MANO_LEFT.pkl. Empty: $HANDMESH_MANO_ROOT, else
    # assets/mano_v1_2/models (handmesh.mano.load_mano_model's rule).
    node.MANO_ROOT = ""
    # Use the built-in synthetic MANO-format hand model when the MANO files are absent.
    # Off for real datasets, whose annotations need the real model.
    node.ALLOW_SYNTHETIC_MANO = False
    return node


def _dataset() -> CfgNode:
    node = CfgNode()
    node.TRAIN = CfgNode(new_allowed=True)  # e.g. TYPE: OakInk, DATA_SPLIT: train+val, AUG: true
    node.TEST = CfgNode(new_allowed=True)  # also the validation set during training
    return node


def _train() -> CfgNode:
    node = CfgNode()
    node.MANUAL_SEED = 1  # each process seeds with MANUAL_SEED + rank
    node.CONV_REPEATABLE = True  # cudnn deterministic, no benchmark
    node.BATCH_SIZE = 4  # the TOTAL batch over all processes
    node.EPOCH = 100
    node.OPTIMIZER = "Adam"  # one of OPTIMIZERS
    node.LR = 0.001
    node.WEIGHT_DECAY = 0.0  # OakInk reads it without a default
    node.MOMENTUM = 0.9  # SGD only
    node.SCHEDULER = "StepLR"  # one of SCHEDULERS; OakInk's default, same as MultiStepLR
    node.LR_DECAY_GAMMA = 0.1
    node.LR_DECAY_STEP = [70]  # epochs at which the LR is multiplied by LR_DECAY_GAMMA
    node.LOG_INTERVAL = 50  # iterations between log lines
    # metrics computed on the training batches and logged per epoch (names or nodes as
    # MODEL.METRIC); empty: the model's TRAIN_METRICS (IntegralPose: mpjpe)
    node.METRIC = []
    # training-loop hooks (TRAIN_HOOKS registry nodes), run with the model's own hooks
    node.HOOKS = []
    node.FIND_UNUSED_PARAMETERS = False  # passed to DistributedDataParallel
    node.AMP = False  # mixed precision, CUDA only
    node.GRAD_CLIP_ENABLED = True
    node.GRAD_CLIP = CfgNode()
    node.GRAD_CLIP.TYPE = 2  # norm type (2: Euclidean)
    node.GRAD_CLIP.NORM = 0.001  # max norm
    # One of GRAD_CLIP_MODES. "per_tensor" is OakInk-HMR's behaviour, so the published configs
    # (which do not set MODE) train as published.
    node.GRAD_CLIP.MODE = "per_tensor"
    return node


def _test() -> CfgNode:
    node = CfgNode()
    # test metrics (names, {TYPE: name} nodes or OakInk-HMR entries); empty: MODEL.METRIC, else
    # the test dataset's protocol, else the model's DEFAULT_METRICS
    node.METRIC = []
    # POSTPROCESS registry nodes applied in order to each batch's predictions before the metrics
    node.POSTPROCESS = []
    return node


def _build_defaults() -> CfgNode:
    cfg = CfgNode(new_allowed=True)
    cfg.DATA_PRESET = _data_preset()
    cfg.DATASET = _dataset()
    cfg.TRAIN = _train()
    cfg.MODEL = CfgNode(new_allowed=True)
    cfg.TEST = _test()
    return _frozen(cfg)


_DEFAULTS = _build_defaults()


def get_default_config() -> CfgNode:
    """A fresh, unfrozen copy of the default config (changing it never changes the defaults)."""
    cfg = _DEFAULTS.clone()
    cfg.defrost()
    return cfg
