"""The offline wheelhouse selects exactly the lock's pins for the image's Python (3.11.2)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


def load_wheelhouse():
    spec = importlib.util.spec_from_file_location("wheelhouse", REPO / "images" / "wheelhouse.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


wheelhouse = load_wheelhouse()


@pytest.fixture(scope="module")
def pins() -> dict[str, str]:
    from prereq import require

    require(Path(wheelhouse.uv_command(REPO)).is_file(), "uv (make setup installs .tools/bin/uv)")
    lines = wheelhouse.image_requirements(REPO)
    return dict(line.split("==", 1) for line in lines)


def test_every_line_is_an_exact_pin_without_markers(pins):
    assert pins
    assert all(version and ";" not in version and " " not in version for version in pins.values())


def test_the_image_gets_what_the_sandbox_needs(pins):
    needed = {"duckdb", "pyarrow", "pandas", "polars", "matplotlib", "jupyterlab", "ipywidgets"}
    assert needed <= pins.keys()
    assert pins["jupyterhub"] == "5.5.4"  # singleuser matches the hub


def test_markers_are_evaluated_for_debian_linux_python_3_11_2_not_the_host(pins):
    assert not {"pywin32", "pywinpty", "appnope", "colorama"} & pins.keys()
    # soupsieve is locked differently below and above Python 3.11.5: the image has 3.11.2.
    exported = wheelhouse.subprocess.run(
        [
            wheelhouse.uv_command(REPO),
            "export",
            "--frozen",
            "--extra",
            "notebook",
            "--no-dev",
            "--no-hashes",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for line in exported.splitlines():
        if line.startswith("soupsieve==") and "< '3.11.5'" in line:
            assert pins["soupsieve"] == line.split("==")[1].split(" ")[0].rstrip(";")


def test_select_links_exactly_the_pinned_wheels_and_names_a_missing_one(tmp_path):
    house, context = tmp_path / "house", tmp_path / "context"
    house.mkdir()
    for name in (
        "PyYAML-6.0.3-cp311-cp311-manylinux_2_17_x86_64.whl",
        "pyyaml-6.0.2-cp311-cp311-manylinux_2_17_x86_64.whl",  # stale version: left out
        "python_dateutil-2.9.0.post0-py2.py3-none-any.whl",
    ):
        (house / name).write_bytes(b"wheel")
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("pyyaml==6.0.3\npython-dateutil==2.9.0.post0\n")
    wheelhouse.select(requirements, house, context)
    assert sorted(p.name for p in context.iterdir()) == [
        "PyYAML-6.0.3-cp311-cp311-manylinux_2_17_x86_64.whl",
        "python_dateutil-2.9.0.post0-py2.py3-none-any.whl",
    ]
    requirements.write_text("pyyaml==6.0.3\nduckdb==1.5.6\n")
    with pytest.raises(SystemExit, match=r"no wheel for duckdb==1\.5\.6"):
        wheelhouse.select(requirements, house, context)
