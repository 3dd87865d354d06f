"""Build the offline wheelhouse the researcher image installs from.

Why: ``pip`` inside ``docker build`` cannot reach PyPI with verified TLS on machines of this
kind, so the host downloads binary wheels for the *image's* interpreter (Debian bookworm's
CPython 3.11.2, glibc 2.36, x86_64) and the image installs with ``--no-index``.

The pins come from ``uv.lock`` (``uv export``); environment markers are evaluated here for the
image's interpreter, not the host's, so a package that needs a newer 3.11 patch release is
resolved to the version the lock selected for 3.11.2.

Usage:
  ``python images/wheelhouse.py REQUIREMENTS_OUT WHEELHOUSE_DIR [--print-only]``
  ``python images/wheelhouse.py --select REQUIREMENTS WHEELHOUSE_DIR CONTEXT_DIR``
  (hard-link exactly the pinned wheels into a build context, so stale wheels never leak in)
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from packaging.markers import Marker
from packaging.utils import canonicalize_name, parse_wheel_filename

# The image's interpreter, as environment markers see it.
IMAGE_ENV = {
    "implementation_name": "cpython",
    "implementation_version": "3.11.2",
    "os_name": "posix",
    "platform_machine": "x86_64",
    "platform_python_implementation": "CPython",
    "platform_release": "",
    "platform_system": "Linux",
    "platform_version": "",
    "python_full_version": "3.11.2",
    "python_version": "3.11",
    "sys_platform": "linux",
    "extra": "",
}
GLIBC_MINOR = 36  # Debian bookworm
PLATFORMS = [
    *(f"manylinux_2_{minor}_x86_64" for minor in range(GLIBC_MINOR, 4, -1)),
    "manylinux2014_x86_64",
    "manylinux2010_x86_64",
    "manylinux1_x86_64",
]


def uv_command(repo: Path) -> str:
    """The uv to call: ``$UV`` (the Makefile exports it) or the pinned ``.tools/bin/uv``."""
    return os.environ.get("UV") or str(repo / ".tools" / "bin" / "uv")


def image_requirements(repo: Path) -> list[str]:
    """Pinned ``name==version`` lines of the notebook extra that apply to the image's Python."""
    exported = subprocess.run(
        [
            uv_command(repo), "export", "--frozen", "--extra", "notebook", "--no-dev",
            "--no-hashes", "--no-emit-project", "--no-header", "--quiet",
        ],
        cwd=repo, check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    pins: list[str] = []
    for raw in exported.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", "-")):
            continue
        requirement, _, marker = line.partition(";")
        if marker.strip() and not Marker(marker.strip()).evaluate(IMAGE_ENV):
            continue
        pins.append(requirement.strip())
    return sorted(pins, key=str.lower)


def host_pip() -> list[str]:
    """Return the host's pip command (``$VCE_PIP`` or ``python3 -m pip``): uv venvs lack pip."""
    return shlex.split(os.environ.get("VCE_PIP", "python3 -m pip"))


def cert_args() -> list[str]:
    """Keep TLS verification with the system CA bundle while ignoring stray pip config."""
    bundle = os.environ.get("SSL_CERT_FILE", "/etc/ssl/certs/ca-certificates.crt")
    return ["--cert", bundle] if Path(bundle).is_file() else []


def download(requirements: Path, wheelhouse: Path) -> None:
    """Fetch one binary wheel per pin for the image's platform (no source builds)."""
    platform_args = [arg for p in PLATFORMS for arg in ("--platform", p)]
    subprocess.run(
        [
            *host_pip(), "--isolated", "--disable-pip-version-check", *cert_args(),
            "download", "--quiet", "--no-deps",
            "--only-binary", ":all:", *platform_args,
            "--python-version", "3.11", "--implementation", "cp", "--abi", "cp311",
            "--dest", str(wheelhouse), "--requirement", str(requirements),
        ],
        check=True,
    )  # fmt: skip


def select(requirements: Path, wheelhouse: Path, dest: Path) -> None:
    """Hard-link (or copy) the one wheel per pin into ``dest``; fail naming a missing pin."""
    by_pin: dict[tuple[str, str], Path] = {}
    for wheel in wheelhouse.glob("*.whl"):
        name, version, _, _ = parse_wheel_filename(wheel.name)
        by_pin[(str(name), str(version))] = wheel
    dest.mkdir(parents=True, exist_ok=True)
    for line in requirements.read_text().split():
        name, _, version = line.partition("==")
        wheel = by_pin.get((canonicalize_name(name), version))
        if wheel is None:
            raise SystemExit(f"no wheel for {line} in {wheelhouse}: rerun images/build.sh")
        target = dest / wheel.name
        target.unlink(missing_ok=True)
        try:
            os.link(wheel, target)
        except OSError:
            shutil.copy2(wheel, target)


def main(argv: list[str]) -> int:
    """Write the requirement list; download the wheels unless ``--print-only``."""
    if argv[:1] == ["--select"] and len(argv) == 4:
        select(Path(argv[1]), Path(argv[2]), Path(argv[3]))
        return 0
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    repo = Path(__file__).resolve().parent.parent
    requirements, wheelhouse = Path(argv[0]), Path(argv[1])
    requirements.write_text("\n".join(image_requirements(repo)) + "\n")
    if "--print-only" not in argv:
        wheelhouse.mkdir(parents=True, exist_ok=True)
        download(requirements, wheelhouse)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
