"""Start and stop a single-machine deployment: network, firewall, hub, proxy and services.

Used by ``make run`` / ``make stop`` (through ``scripts/run.sh`` / ``scripts/stop.sh``), by the
end-to-end tests and by the spawn benchmark, so that all three exercise the same start-up path.

``python -m vce.hub.deploy start|stop|status``; the deployment file comes from ``$VCE_CONFIG``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from vce.hub import firewall, homequota
from vce.hub.config import CONFIG_ENV, ConfigError, Settings, load_settings

HUB_PID = "hub.pid"
HUB_LOG = "hub.log"
CONFIG_SNIPPET = (
    '"""Written by vce.hub.deploy: the hub configuration lives in vce.toml."""\n'
    "from vce.hub.app import configure\n\n"
    "configure(get_config())  # noqa: F821\n"
)


class DeployError(RuntimeError):
    """The deployment could not start; the message says what to fix."""


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs; a zombie child of ours is reaped and counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:  # not our child: the kernel's view is enough
        pass
    return True


def _pid(settings: Settings) -> int | None:
    path = settings.state_dir / HUB_PID
    try:
        pid = int(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    return pid if _alive(pid) else None


def running(settings: Settings) -> bool:
    """Whether the hub started by :func:`start` is alive."""
    return _pid(settings) is not None


def health(settings: Settings, timeout: float = 2.0) -> bool:
    """Whether the proxy and hub answer ``/hub/health``."""
    try:
        with urllib.request.urlopen(settings.public_url + "hub/health", timeout=timeout) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError):
        return False


def prepare(settings: Settings) -> firewall.SandboxNetwork:
    """Create the sandbox network and install the firewall rules (both idempotent)."""
    net = firewall.SandboxNetwork.from_settings(settings)
    try:
        firewall.ensure_network(net)
    except Exception as exc:  # docker.errors.* — e.g. the subnet overlaps another network
        raise DeployError(
            f"cannot create the sandbox network {net.name} ({net.subnet}): {exc}. "
            "Fix: start Docker (scripts/docker-engine.sh) or choose another network.subnet"
        ) from exc
    if settings["network"]["firewall"]:
        try:
            firewall.install(net)
        except (subprocess.CalledProcessError, RuntimeError) as exc:
            detail = getattr(exc, "stderr", "") or str(exc)
            raise DeployError(
                f"cannot install the firewall rules ({detail.strip()}). Fix: run as root with "
                "iptables installed, or set network.firewall = false where another firewall "
                "confines the sandbox network"
            ) from exc
    return net


def _config_file(settings: Settings) -> Path:
    """The repository's ``jupyterhub_config.py`` in a checkout, else a copy in the state folder."""
    checkout = Path(__file__).resolve().parents[3] / "jupyterhub_config.py"
    if checkout.is_file():
        return checkout
    path = settings.state_dir / "jupyterhub_config.py"
    if not path.is_file() or path.read_text() != CONFIG_SNIPPET:
        path.write_text(CONFIG_SNIPPET)
    return path


def start(settings: Settings, config_path: Path | None, timeout: float = 90.0) -> int:
    """Start the hub in the background (idempotent); return its pid once it answers."""
    pid = _pid(settings)
    if pid is not None and health(settings):
        return pid
    if shutil.which("configurable-http-proxy") is None:
        raise DeployError("configurable-http-proxy is missing (fix: bash scripts/prereqs.sh proxy)")
    prepare(settings)
    state = settings.state_dir
    state.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    if config_path is not None:
        env[CONFIG_ENV] = str(config_path.resolve())
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    log = (state / HUB_LOG).open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterhub", "-f", str(_config_file(settings))],
        cwd=state,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    (state / HUB_PID).write_text(str(proc.pid))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise DeployError(f"the hub exited with {proc.returncode}; see {state / HUB_LOG}")
        if health(settings):
            return proc.pid
        time.sleep(0.3)
    raise DeployError(f"the hub did not answer within {timeout:.0f} s; see {state / HUB_LOG}")


def stop_hub(settings: Settings, timeout: float = 30.0) -> bool:
    """Stop the hub (which stops its proxy and services); sandboxes keep running."""
    pid = _pid(settings)
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            break
        time.sleep(0.2)
    else:
        os.killpg(pid, signal.SIGKILL)
    (settings.state_dir / HUB_PID).unlink(missing_ok=True)
    _stop_leftover_proxy(settings)
    return True


def _stop_leftover_proxy(settings: Settings) -> None:
    path = settings.state_dir / "proxy.pid"
    try:
        pid = int(path.read_text().strip())
        os.kill(pid, signal.SIGTERM)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        pass
    path.unlink(missing_ok=True)


def remove_sandboxes(settings: Settings) -> int:
    """Remove every sandbox container of this deployment (found by its network label)."""
    import docker

    client = docker.from_env()
    try:
        found = client.containers.list(
            all=True, filters={"label": f"vce.network={settings['network']['name']}"}
        )
        for c in found:
            c.remove(force=True)
        return len(found)
    finally:
        client.close()


def stop(settings: Settings) -> None:
    """Stop everything :func:`start` started: hub, proxy, services, sandboxes, rules, network."""
    stop_hub(settings)
    remove_sandboxes(settings)
    homequota.unmount_all(settings.state_dir / "homes")
    net = firewall.SandboxNetwork.from_settings(settings)
    firewall.remove(net)
    firewall.remove_network(net)


def main(argv: list[str] | None = None) -> int:
    """``python -m vce.hub.deploy start|stop|status``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["start", "stop", "status"])
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    config = os.environ.get(CONFIG_ENV)
    config_path = (
        Path(config) if config else (Path("vce.toml") if Path("vce.toml").is_file() else None)
    )
    if args.action == "start":
        try:
            pid = start(settings, config_path)
        except DeployError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(f"hub running (pid {pid}), log {settings.state_dir / HUB_LOG}")
    elif args.action == "stop":
        stop(settings)
        print("stopped hub, proxy, services and sandboxes; firewall rules and network removed")
    else:
        up = running(settings) and health(settings)
        print("running" if up else "stopped")
        return 0 if up else 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
