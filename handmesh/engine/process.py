"""Process hygiene: no process outlives its run.

``die_with_parent()`` asks the Linux kernel to send SIGTERM to this process when its parent exits
(``prctl(PR_SET_PDEATHSIG)``); the engine calls it in every spawned or ``torchrun``-started rank
and in every DataLoader worker, so killing the launcher ends the ranks, and a rank's death ends
its workers at once. When one rank fails, the launcher (``torch.multiprocessing.spawn``) ends the
others. A no-op on other systems.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import multiprocessing
import os
import signal
import sys

__all__ = ["die_with_parent"]

_PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGTERM) -> bool:
    """Have ``sig`` sent to this process when its parent dies; True if it was arranged."""
    if not sys.platform.startswith("linux"):
        return False
    spawner = multiprocessing.parent_process()  # the real parent, even if it already died
    parent = spawner.pid if spawner is not None and spawner.pid else os.getppid()
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
            return False
    except (OSError, AttributeError):
        return False
    if os.getppid() != parent:  # the parent died before the request took effect
        os.kill(os.getpid(), sig)
    return True
