"""The seccomp profile of sandbox containers: Docker's default, without process inspection.

Kernel and Jupyter server run as the same uid. With Docker's default profile (which allows
``ptrace`` on kernels >= 4.8) and no Yama LSM on the host, code in a notebook can attach to its
own Jupyter server and rewrite it — lift the download hardening, add routes. The server makes
itself non-dumpable (:mod:`vce.sandbox.nodump`); this profile removes the syscalls themselves,
so neither the kernel nor anything it starts can trace or read another process:

- ``ptrace``, ``process_vm_readv``, ``process_vm_writev`` are dropped from every allow rule
  (Docker's default action for a syscall without a rule is ``EPERM``).

Everything else is Docker's own default, vendored from the engine version this project runs on
(``profiles/docker-default-seccomp-20.10.24.json``, see the README there), so a sandbox behaves
as any Docker container does otherwise. The profile goes to Docker inline, as the CLI's
``--security-opt seccomp=<file>`` sends it.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

PROFILE_DIR = Path(__file__).with_name("profiles")
DOCKER_DEFAULT = PROFILE_DIR / "docker-default-seccomp-20.10.24.json"
DENIED_SYSCALLS = frozenset({"ptrace", "process_vm_readv", "process_vm_writev"})
"""Syscalls a sandbox never gets, whatever the default profile allows."""


def without(profile: dict[str, Any], denied: frozenset[str]) -> dict[str, Any]:
    """Return ``profile`` with ``denied`` removed from every rule (rules left empty dropped).

    >>> p = {"defaultAction": "SCMP_ACT_ERRNO",
    ...      "syscalls": [{"names": ["read", "ptrace"], "action": "SCMP_ACT_ALLOW"},
    ...                   {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW"}]}
    >>> without(p, frozenset({"ptrace"}))["syscalls"]
    [{'names': ['read'], 'action': 'SCMP_ACT_ALLOW'}]
    """
    if profile.get("defaultAction") == "SCMP_ACT_ALLOW":
        raise ValueError("a profile that allows by default cannot be narrowed by removal")
    rules = []
    for rule in profile["syscalls"]:
        names = [n for n in rule["names"] if n not in denied]
        if names:
            rules.append({**rule, "names": names})
    return {**profile, "syscalls": rules}


@cache
def sandbox_profile() -> str:
    """The sandbox profile as JSON text (what ``security_opt: seccomp=…`` takes)."""
    default = json.loads(DOCKER_DEFAULT.read_text())
    return json.dumps(without(default, DENIED_SYSCALLS), separators=(",", ":"))


def security_opt() -> str:
    """The ``security_opt`` entry that applies :func:`sandbox_profile`."""
    return f"seccomp={sandbox_profile()}"


def write_profile(path: Path) -> Path:
    """Write the profile to ``path`` (for ``docker run --security-opt seccomp=<path>``)."""
    path.write_text(sandbox_profile())
    return path
