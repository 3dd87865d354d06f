"""The container's Jupyter server, attacked over its HTTP API like a browser or script would.

Bulk download channels (``/files/``, ``/view/``, nbconvert, large contents reads) must answer
403 with the export hint; notebooks, file browsing, editing and uploads must work. Terminals
are off: a terminal's websocket carried 12.5 MB/s of anything the shell printed.
"""

from __future__ import annotations

import base64
import json
import time

import nbformat
import pytest

pytestmark = pytest.mark.docker

BIG_BYTES = 3 * 1024 * 1024  # above the 1 MiB cap for non-notebook files


@pytest.fixture(scope="module")
def box(sandbox_container):
    """The session sandbox with files a researcher could have produced in the kernel."""
    rc, _, err = sandbox_container.exec(
        f"""
import os, pathlib, shutil
home = pathlib.Path.home()
(home / "out").mkdir(exist_ok=True)
rows = "\\n".join(f"{{i}},user{{i}},{{i * 7}}" for i in range(200_000))
(home / "out" / "big.csv").write_text(("id,username,views\\n" + rows)[:{BIG_BYTES}])
(home / "out" / "small.csv").write_text("region,n\\nDE,15\\nFR,20\\n")
(home / "out" / "notes.md").write_text("# notes\\n")
# A copy of a dataset file, as if the researcher tried to smuggle it out via the home folder.
data = sorted(pathlib.Path(os.environ["VCE_DATA_DIR"]).rglob("*.parquet"), key=os.path.getsize)
shutil.copy(data[-1], home / "out" / "videos.parquet")
# A large non-notebook file wearing a notebook's name.
shutil.copy(home / "out" / "big.csv", home / "out" / "disguised.ipynb")
"""
    )
    assert rc == 0, err
    return sandbox_container


def assert_refused(response) -> None:
    assert response.status_code == 403, (response.status_code, response.text[:300])
    assert "vce.request_export" in response.json()["message"]


@pytest.mark.parametrize(
    "path",
    [
        "files/out/big.csv",
        "files/out/small.csv",
        "files/out/small.csv?download=1",
        "files/out/videos.parquet",
        "files/getting-started.ipynb",
        "view/out/small.csv",
        "nbconvert/html/getting-started.ipynb?download=true",
        "nbconvert/script/getting-started.ipynb?download=true",
        "nbconvert/notebook/getting-started.ipynb?download=true",
        "nbconvert/webpdf/getting-started.ipynb",
    ],
)
def test_download_routes_are_refused(box, path):
    assert_refused(box.api("GET", path))


def test_download_routes_are_refused_without_a_token_too(box):
    response = box.api("GET", "files/out/small.csv", headers={"Authorization": ""})
    assert_refused(response)


def test_nbconvert_post_export_is_refused_and_no_exporters_are_offered(box):
    got = box.api("GET", "api/contents/getting-started.ipynb")
    assert got.status_code == 200, got.text
    nb = got.json()["content"]
    assert_refused(box.api("POST", "nbconvert/html", json=nb))
    exporters = box.api("GET", "api/nbconvert")
    assert exporters.status_code == 200 and exporters.json() == {}


@pytest.mark.parametrize(
    "path",
    [
        "api/contents/out/big.csv",
        "api/contents/out/big.csv?format=text&type=file",
        "api/contents/out/videos.parquet",
        "api/contents/out/videos.parquet?format=base64&type=file",
        "api/contents/out/disguised.ipynb?type=file",
    ],
)
def test_large_contents_reads_of_data_files_are_refused(box, path):
    response = box.api("GET", path)
    assert_refused(response)
    assert "limit" in response.json()["message"]


def test_a_data_file_named_like_a_notebook_is_not_returned_as_one(box):
    # Read as a notebook it must parse as one; a CSV does not, and the error shows no content.
    response = box.api("GET", "api/contents/out/disguised.ipynb")
    assert response.status_code in (400, 403, 500)
    assert "user1,7" not in response.text


def test_file_browser_small_files_and_notebooks_still_work(box):
    listing = box.api("GET", "api/contents/out")
    assert listing.status_code == 200
    names = {entry["name"]: entry for entry in listing.json()["content"]}
    assert {"big.csv", "small.csv", "videos.parquet"} <= names.keys()
    assert names["big.csv"]["size"] == BIG_BYTES  # metadata is fine, content is not
    meta = box.api("GET", "api/contents/out/big.csv?content=0")
    assert meta.status_code == 200 and meta.json()["content"] is None
    small = box.api("GET", "api/contents/out/small.csv")
    assert small.status_code == 200 and small.json()["content"].startswith("region,n")
    nb = box.api("GET", "api/contents/getting-started.ipynb")
    assert nb.status_code == 200 and nb.json()["type"] == "notebook"
    assert nb.json()["content"]["cells"]


def test_uploads_and_text_editing_work(box):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print('uploaded')")])
    put = box.api(
        "PUT",
        "api/contents/uploaded.ipynb",
        json={"type": "notebook", "format": "json", "content": json.loads(nbformat.writes(nb))},
    )
    assert put.status_code == 201, put.text
    back = box.api("GET", "api/contents/uploaded.ipynb")
    assert back.json()["content"]["cells"][0]["source"] == "print('uploaded')"

    blob = base64.b64encode(b"lookup,value\na,1\n").decode()
    put = box.api(
        "PUT",
        "api/contents/lookup.csv",
        json={"type": "file", "format": "base64", "content": blob},
    )
    assert put.status_code == 201, put.text

    for text in ("SELECT 1;\n", "SELECT 2;\n"):  # save twice, as an editor does
        saved = box.api(
            "PUT",
            "api/contents/query.sql",
            json={"type": "file", "format": "text", "content": text},
        )
        assert saved.status_code in (200, 201), saved.text
    assert box.api("GET", "api/contents/query.sql").json()["content"] == "SELECT 2;\n"


def test_terminals_are_off(box):
    assert box.api("POST", "api/terminals").status_code == 404
    assert box.api("GET", "api/terminals").status_code == 404


def test_kernel_specs_offer_no_way_to_serve_a_file(box):
    # Kernel spec resources are served over HTTP; the researcher cannot add a spec folder.
    rc, out, _ = box.sh(
        "mkdir -p ~/.local/share/jupyter/kernels/x && cp ~/out/small.csv "
        "~/.local/share/jupyter/kernels/x/data.csv && "
        'echo \'{"argv":["python","-m","ipykernel_launcher","-f","{connection_file}"],'
        '"display_name":"x","language":"python"}\' > ~/.local/share/jupyter/kernels/x/kernel.json'
        " && echo created"
    )
    assert rc == 0 and "created" in out
    assert box.api("GET", "kernelspecs/x/data.csv").status_code == 404
    assert "x" not in box.api("GET", "api/kernelspecs").json()["kernelspecs"]


def test_refusals_are_logged(box):
    box.api("GET", "files/out/small.csv")
    box.api("GET", "api/contents/out/big.csv")
    logs = box.logs()
    assert "VCE-REFUSED GET download path='/files/out/small.csv'" in logs
    assert "VCE-REFUSED contents read of" in logs and "path='out/big.csv'" in logs
    # and each refusal went to the airlock, whose audit chain outlives the container
    for _ in range(50):
        paths = [r["path"] for r in box.airlock.refusals]
        if "/files/out/small.csv" in paths and "out/big.csv" in paths:
            break
        time.sleep(0.1)
    assert "/files/out/small.csv" in paths and "out/big.csv" in paths, paths
