"""Make the Jupyter server non-dumpable, so the kernel (same uid) cannot trace or read it.

Linux lets a process ptrace, or open ``/proc/<pid>/mem`` of, any *dumpable* process of its
own uid. Kernel and server share uid 1000 in a sandbox, so without this a notebook could
attach to its server and rewrite the hardening in memory. ``prctl(PR_SET_DUMPABLE, 0)`` makes
the kernel refuse both to anyone without ``CAP_SYS_PTRACE`` (sandboxes have no capabilities)
and hands ``/proc/<pid>/`` of the server to root. The flag survives ``fork`` but is reset by
``execve``, so kernels and other programs the server starts stay ordinary (dumpable) processes.

The sandbox's seccomp profile (:mod:`vce.hub.seccomp`) removes ``ptrace`` and
``process_vm_*`` as well; either alone stops the attack, both together keep it stopped if one
is configured away.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

PR_SET_DUMPABLE = 4
PR_GET_DUMPABLE = 3


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def forbid_dumping() -> None:
    """Mark this process non-dumpable; raise ``OSError`` if the kernel refuses."""
    libc = _libc()
    if libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl(PR_SET_DUMPABLE, 0) failed: {os.strerror(err)}")


def is_dumpable() -> bool:
    """Whether this process is dumpable (tests and the server's start log use it)."""
    return bool(_libc().prctl(PR_GET_DUMPABLE, 0, 0, 0, 0))
