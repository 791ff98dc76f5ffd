"""Test a checkpoint with OakInk-HMR's mesh protocol (IKNet + HandTailor fit for joint models).

``python -m train.test_model_hand_tailor --cfg EXP/dump_cfg.yaml --reload CKPT [--gpu_id 0]
[--workers 32] [--batch_size 64] [--exp_id eval_...] [--iknet PATH] [--per_sample_reg]``

As the original ``train/test_model_hand_tailor.py``: joint models (IntegralPose, RLE) get a mesh
from IKNet + the HandTailor fit (``TEST.POSTPROCESS: HandTailorFit``, ``handmesh.iknet``), mesh
models are evaluated as they are; the metrics are the published set: MPJPE of the MODEL's joints
(the fitted joints are discarded, as the original does), PCK-AUC 0-50 mm in 20 steps, MPVPE of the
mesh, PA-MPJPE, PA-MPVPE, plus ``fitted_mpjpe`` (MPJPE of the fitted joints) as an extra. Results:
``exp/{exp_id}_{stamp}/evaluations/test_eval.json`` and ``test_eval.txt``, printed at the end.

The fit regularises each sample towards its whole evaluation batch's IKNet poses, as the original
(so the numbers depend on the batch size, ``--batch_size`` or ``TRAIN.BATCH_SIZE``; batches are
taken in dataset order, the same on any number of processes); ``--per_sample_reg`` uses each
sample's own pose instead (the fix). IKNet weights: ``--iknet`` (default
``assets/postprocess/iknet.pt``, OakInk-HMR's file, or one from ``python -m train.train_iknet``).
CPU or GPU, any number of processes (``--device``, ``--gpu_id``, ``--nproc``), exact.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from handmesh.config.loader import config_from_dict
from handmesh.config.node import config_to_dict
from handmesh.engine.cli import launch_settings, run_cli
from handmesh.engine.experiment import timestamp
from handmesh.engine.runner import eval_config, run_testing
from handmesh.engine.tester import EvalOptions, default_test_exp_id
from handmesh.iknet.weights import DEFAULT_IKNET_PATH

# OakInk-HMR's HandTailorContext evaluator, as its config entries (LossMetric and the drawings
# select no metric here); the extra measures the fitted joints
PUBLISHED_METRICS: list[Any] = [
    {"TYPE": "MeanEPE", "NAME": "joints_3d", "PRED_KEY": "joints_3d", "GT_KEY": "target_joints_3d"},
    {"TYPE": "MeanEPE2", "NAME": "verts_3d", "PRED_KEY": "verts_3d", "GT_KEY": "target_verts_3d"},
    {"TYPE": "Hand3DPCK", "EVAL_TYPE": "joints_3d", "VAL_MIN": 0.0, "VAL_MAX": 0.05, "STEPS": 20},
    {"TYPE": "PAEval", "MESH_SCORE": True},
]
FITTED_EXTRA = "fitted_mpjpe"
TABLE = (
    ("MPJPE", "mpjpe", "mm"),
    ("PCK-AUC", "pck_auc", ""),
    ("MPVPE", "mpvpe", "mm"),
    ("PA-MPJPE", "pa_mpjpe", "mm"),
    ("PA-MPVPE", "pa_mpvpe", "mm"),
    ("fitted-joint MPJPE", FITTED_EXTRA, "mm"),
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """``train.test_model``'s flags plus ``--iknet`` and ``--per_sample_reg``."""
    from train.test_model import build_parser

    parser = build_parser(__doc__.splitlines()[0])
    parser.add_argument("--iknet", default=str(DEFAULT_IKNET_PATH), help="IKNet weights file")
    parser.add_argument(
        "--per_sample_reg",
        action="store_true",
        help="regularise each sample towards its own IKNet pose, not the batch's (the fix)",
    )
    return parser.parse_args(argv)


def predicts_mesh(model_type: str) -> bool:
    """Whether a registered model predicts ``verts_3d`` itself (then it is not fitted)."""
    import handmesh  # noqa: F401  (registers the models)
    from handmesh.registry import MODELS

    return bool(getattr(MODELS.get(model_type), "PREDICTS_MESH", False))


def hand_tailor_config(cfg: Any, iknet: str, per_sample_reg: bool) -> tuple[Any, bool]:
    """``cfg`` with the published TEST.METRIC and, for joint models, the HandTailorFit step.

    Returns the config and whether the model's joints are fitted.
    """
    data = config_to_dict(cfg)
    fitted = not predicts_mesh(str(data["MODEL"]["TYPE"]))
    data.setdefault("TEST", {})
    data["TEST"]["METRIC"] = PUBLISHED_METRICS + ([FITTED_EXTRA] if fitted else [])
    data["TEST"]["POSTPROCESS"] = (
        [
            {
                "TYPE": "HandTailorFit",
                "IKNET": iknet,
                "REG_TARGET": "sample" if per_sample_reg else "batch",
            }
        ]  # fmt: skip
        if fitted
        else []
    )
    return config_from_dict(data, source="test_model_hand_tailor"), fitted


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    cfg, fitted = hand_tailor_config(
        eval_config(args.cfg, args.opts, args.reload, args.untrained),
        args.iknet,
        args.per_sample_reg,
    )
    batch = args.batch_size or int(cfg["TRAIN"]["BATCH_SIZE"])
    if not fitted:
        print(f"{cfg['MODEL']['TYPE']} predicts its mesh: no HandTailor fit")
    elif args.per_sample_reg:
        print("HandTailor fit with the per-sample regulariser (--per_sample_reg, not the original)")
    else:
        print(
            f"HandTailor fit with the original's batch regulariser: each sample is pulled towards "
            f"the IKNet poses of its whole evaluation batch ({batch} samples in dataset order, the "
            "same on any number of processes), so the results depend on the batch size"
        )
    options = EvalOptions(
        reload=args.reload,
        exp_id=args.exp_id or default_test_exp_id(args.reload),
        exp_root=args.exp_root,
        workers=args.workers,
        batch_size=args.batch_size,
        stamp=timestamp(),
    )
    run_testing(cfg, options, launch_settings(args))
    if os.environ.get("RANK", "0") != "0" or args.node_rank != 0:
        return  # the results are written and printed by the main process
    report = Path(options.exp_root) / f"{options.exp_id}_{options.stamp}" / "evaluations"
    metrics = json.loads((report / "test_eval.json").read_text())["metrics"]
    line = ", ".join(
        f"{label} {metrics[key]:.2f}{' ' + unit if unit else ''}" if unit else
        f"{label} {metrics[key]:.3f}"
        for label, key, unit in TABLE
        if key in metrics
    )  # fmt: skip
    print(f"{cfg['MODEL']['TYPE']} on {metrics['num_samples']} test samples: {line}")
    print(f"Results in {report / 'test_eval.json'} and {report / 'test_eval.txt'}")


if __name__ == "__main__":
    sys.exit(run_cli(main))
