"""The researcher image under DESIGN's hardening flags, probed from inside as the researcher."""

from __future__ import annotations

import json
import uuid

import pytest

from sandbox_container import HARDENING_FLAGS, docker

pytestmark = pytest.mark.docker


def run_json(box, code: str):
    rc, out, err = box.exec(code)
    assert rc == 0, err
    return json.loads(out.strip().splitlines()[-1])


def test_runs_as_uid_1000_without_capabilities_or_privilege_gain(sandbox_container):
    status = run_json(
        sandbox_container,
        """
import json, os
fields = dict(line.split(":", 1) for line in open("/proc/self/status"))
print(json.dumps({"uid": os.getuid(), "gid": os.getgid(),
                  "cap_eff": fields["CapEff"].strip(), "cap_bnd": fields["CapBnd"].strip(),
                  "no_new_privs": fields["NoNewPrivs"].strip()}))
""",
    )
    assert status["uid"] == 1000 and status["gid"] == 1000
    assert int(status["cap_eff"], 16) == 0
    assert int(status["cap_bnd"], 16) == 0
    assert status["no_new_privs"] == "1"


def test_writes_outside_tmpfs_fail_and_tmpfs_writes_work(sandbox_container):
    result = run_json(
        sandbox_container,
        """
import errno, json, os
out = {}
for path in ["/opt/vce/lib/python3.11/site-packages/evil.py", "/etc/jupyter/evil.json",
             "/usr/local/bin/evil", "/home/evil", "/evil", "/var/tmp/evil", "/data/evil"]:
    try:
        with open(path, "w") as f:
            f.write("x")
        out[path] = "written"
    except OSError as e:
        out[path] = errno.errorcode[e.errno]
for path in [os.path.expanduser("~/notes.txt"), "/tmp/scratch.txt"]:
    with open(path, "w") as f:
        f.write("fine")
    out[path] = open(path).read()
print(json.dumps(out))
""",
    )
    for path in [
        "/opt/vce/lib/python3.11/site-packages/evil.py",
        "/etc/jupyter/evil.json",
        "/usr/local/bin/evil",
        "/home/evil",
        "/evil",
        "/var/tmp/evil",
        "/data/evil",
    ]:
        assert result[path] in {"EROFS", "EACCES"}, (path, result[path])
    assert result["/home/jovyan/notes.txt"] == "fine"
    assert result["/tmp/scratch.txt"] == "fine"


def test_data_mount_is_read_only_and_holds_no_real_minors(sandbox_container):
    result = run_json(
        sandbox_container,
        """
import errno, json, os, pathlib, shutil
root = pathlib.Path(os.environ["VCE_DATA_DIR"])
parquet = sorted(root.rglob("*.parquet"))
victim = parquet[0]
attempts = {}
for name, action in {
    "overwrite": lambda: open(victim, "r+b").write(b"PAR1"),
    "delete": lambda: victim.unlink(),
    "rename": lambda: victim.rename(victim.with_suffix(".bak")),
    "new_file": lambda: open(victim.parent / "part-evil.parquet", "wb").write(b"x"),
    "new_partition": lambda: (victim.parent.parent / "audience=minor").mkdir(),
    "chmod": lambda: victim.chmod(0o777),
}.items():
    try:
        action()
        attempts[name] = "done"
    except OSError as e:
        attempts[name] = errno.errorcode[e.errno]
audiences = sorted({p.split("=", 1)[1] for f in parquet for p in f.parts if p.startswith("audience=")})
print(json.dumps({"files": len(parquet), "attempts": attempts, "audiences": audiences}))
""",
    )
    assert result["files"] > 0
    assert all(v in {"EROFS", "EACCES", "EPERM"} for v in result["attempts"].values()), result
    assert result["audiences"] == ["adult", "minor_synthetic"]


def test_jupyter_configuration_and_kernel_specs_cannot_be_changed_by_the_researcher(
    sandbox_container,
):
    # A server (re)started with ~/.jupyter or ~/.local config could drop the hardening, and a
    # kernel spec folder is served over HTTP: none of those paths may be writable.
    result = run_json(
        sandbox_container,
        """
import json, os
from jupyter_core.paths import jupyter_config_path, jupyter_path
def writable(path):
    while not os.path.exists(path):
        path = os.path.dirname(path)
    return os.access(path, os.W_OK)
paths = jupyter_config_path() + jupyter_path("kernels") + jupyter_path("nbconvert")
print(json.dumps({p: writable(p) for p in paths}))
""",
    )
    assert result, "no jupyter paths reported"
    assert not any(result.values()), [p for p, w in result.items() if w]


def test_no_docker_socket_and_a_new_home_gets_the_getting_started_notebook(sandbox_container):
    for socket in ("/var/run/docker.sock", "/run/docker.sock"):
        rc, _, _ = sandbox_container.sh(f"test -e {socket}")
        assert rc != 0, f"{socket} is visible in the sandbox"
    rc, out, _ = sandbox_container.sh("ls -A ~")
    assert rc == 0 and "getting-started.ipynb" in out.split()


def test_server_refuses_to_start_when_the_hardening_cannot_be_imported(sandbox_image, tmp_path):
    """Fail closed: shadow the ``vce`` package with a broken one; the server must not listen."""
    shadow = tmp_path / "shadow" / "vce"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('hardening sabotaged by the test')\n")
    for p in (shadow.parent, shadow, shadow / "__init__.py"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    name = f"vce-failclosed-{uuid.uuid4().hex[:8]}"
    try:
        proc = docker(
            "run", "--name", name, "--network", "none", *HARDENING_FLAGS,
            "--volume", f"{shadow.parent}:/shadow:ro", "--env", "PYTHONPATH=/shadow",
            sandbox_image, "jupyter", "lab", "--no-browser", "--ServerApp.ip=0.0.0.0",
            check=False, timeout=120,
        )  # fmt: skip
    finally:
        docker("rm", "--force", name, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "contents_manager_class" in output
    assert "is running at" not in output


def test_server_start_does_not_compile_the_iri_grammars(sandbox_container):
    """The single-user server's imports leave out rfc3987-syntax (0.8 s of CPU on every spawn)."""
    loaded = run_json(
        sandbox_container,
        """
import json, sys
import jupyterhub.singleuser, jupyterlab, vce.sandbox.hardening
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in {"rfc3987_syntax", "lark"})))
""",
    )
    assert loaded == []


def test_server_command_leaves_out_the_hubs_database_layer_until_used(sandbox_container):
    """``vce-singleuser`` imports the single-user server without SQLAlchemy's ORM or Alembic
    (0.15 s of CPU per spawn), and the hub's ORM module still loads in full when touched."""
    state = run_json(
        sandbox_container,
        """
import json, sys
from vce.sandbox.singleuser import skip_hub_database_layer
applied = skip_hub_database_layer()
import jupyterhub.singleuser.extension, jupyterlab, vce.sandbox.hardening
from jupyterhub.log import log_request
heavy = sorted(m for m in sys.modules
               if m.split(".")[0] in {"alembic", "mako"} or m.startswith("sqlalchemy.orm"))
import jupyterhub.orm
print(json.dumps({"applied": applied, "heavy": heavy,
                  "orm_on_use": jupyterhub.orm.User.__tablename__,
                  "stand_in": sys.modules["jupyterhub.handlers.pages"].__name__}))
""",
    )
    assert state == {
        "applied": True,
        "heavy": [],
        "orm_on_use": "users",
        "stand_in": "jupyterhub.handlers.pages",
    }
