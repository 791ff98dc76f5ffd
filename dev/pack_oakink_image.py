"""Pack OakInk-Image annotations for the OakInk dataset's ``USE_PACK: true`` path (no oikit needed).

    python dev/pack_oakink_image.py --data_dir data/OakInk --mode_split default \\
        --data_split train+val [--workers N]
    python dev/pack_oakink_image.py --data_dir data/OakInk --all --workers 8

writes ``<data_dir>/image/anno_packed/<mode_split>/<data_split>/<info_str>.pkl`` (OakInk-HMR's
format) and an ``index.json`` per completed split. ``--all`` packs every split the nine published
``config/oii`` configs read (default, subject and object; train+val and test). Rerunning skips the
files already complete, so an interrupted run resumes. A sample whose raw file is missing or
corrupt is reported by name and the rest carries on; the failures are listed at the end and the
exit code is 1. Setup errors (no split file, ...) print one ``error:`` line and exit with 2;
Ctrl-C exits with 130 (the files written so far are complete and are kept).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from handmesh.data.oakink.layout import DATA_SPLITS, MODE_SPLITS
from handmesh.data.oakink.packer import CONFIG_PAIRS, PackFailure, PackReport, pack_split
from handmesh.errors import HandmeshError

MAX_LISTED_FAILURES = 50


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data_dir", default="data/OakInk", help="folder holding image/ (oikit's OAKINK_DIR)"
    )
    parser.add_argument("--data_split", default="all", choices=DATA_SPLITS)
    parser.add_argument("--mode_split", default="default", choices=tuple(MODE_SPLITS))
    parser.add_argument(
        "--all",
        action="store_true",
        help="pack every (mode_split, data_split) the published configs need",
    )
    parser.add_argument(
        "--workers", type=int, default=max(1, min(8, os.cpu_count() or 1)), help="processes"
    )
    parser.add_argument("--no_progress", action="store_true", help="no progress bar")
    return parser.parse_args(argv)


def _print_failure(failure: PackFailure) -> None:
    from tqdm import tqdm

    tqdm.write(f"failed: {failure.error}", file=sys.stderr)


def _summary(report: PackReport) -> str:
    return (
        f"{report.mode_split}/{report.data_split}: {report.total} samples, {report.written} "
        f"written, {report.skipped} already complete, {len(report.failures)} failed -> "
        f"{report.out_dir}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.workers < 1:
        print(f"error: --workers must be >= 1, got {args.workers}", file=sys.stderr)
        return 2
    pairs = list(CONFIG_PAIRS) if args.all else [(args.mode_split, args.data_split)]
    reports = []
    try:
        for mode_split, data_split in pairs:
            report = pack_split(
                args.data_dir,
                mode_split,
                data_split,
                workers=args.workers,
                progress=not args.no_progress,
                on_failure=_print_failure,
            )
            reports.append(report)
            print(_summary(report))
    except HandmeshError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted: run the same command again to resume", file=sys.stderr)
        return 130
    failures = [(report, failure) for report in reports for failure in report.failures]
    if not failures:
        return 0
    print(f"\n{len(failures)} sample(s) could not be packed:", file=sys.stderr)
    for report, failure in failures[:MAX_LISTED_FAILURES]:
        print(
            f"  {report.mode_split}/{report.data_split} #{failure.position} "
            f"{failure.info_str}: {failure.error}",
            file=sys.stderr,
        )
    if len(failures) > MAX_LISTED_FAILURES:
        print(f"  ... and {len(failures) - MAX_LISTED_FAILURES} more", file=sys.stderr)
    print("Fix or restore those files and run the same command again.", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
