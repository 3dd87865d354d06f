"""The same deployment on Kubernetes: zero-to-jupyterhub (z2jh) Helm values and KubeSpawner volumes.

:func:`helm_values` renders the chart values that carry DESIGN's first trust boundary over from
the Docker deployment — non-root uid, no privilege escalation, all capabilities dropped, a
read-only root filesystem with an in-memory ``/tmp``, CPU and memory limits, no service-account
token, a NetworkPolicy whose only egress is the hub API, the airlock and cluster DNS, no image
choice, the idle culler — from the same :class:`~vce.hub.config.Settings`.

:func:`data_volumes` renders, per spawn, the read-only volumes of a project's grant: each
allowed ``audience=…`` partition is its own ``subPath`` mount of the dataset's ReadOnlyMany
claim, exactly like the per-partition binds of the Docker spawner, so real minors' rows are never
mounted. The hub applies it from a ``pre_spawn_hook`` (see docs/explanation/scaling.md).

Nothing here imports kubernetes or kubespawner: the output is plain data (``python -m
vce.hub.kubespawner > values.yaml``), tested by checking the rendered values.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import yaml

from vce.hub.access import SpawnGrant
from vce.hub.app import ADMIN_SCOPE, AIRLOCK_SERVICE, REVIEW_SCOPE
from vce.hub.config import Settings, load_settings
from vce.hub.mounts import data_binds

AIRLOCK_PORT = 8090
HUB_PORT = 8081


def _k8s_quantity(size: str) -> str:
    """``2G`` (Docker/JupyterHub style) → ``2Gi`` (Kubernetes)."""
    m = re.fullmatch(r"(\d+)([KMGT]?)", size)
    if not m:
        raise ValueError(f"not a byte size: {size!r}")
    number, unit = m.groups()
    return f"{number}{unit}i" if unit else number


def container_security_context(uid: int) -> dict[str, Any]:
    """The sandbox container's securityContext (Pod Security Standard "restricted" and more)."""
    return {
        "runAsUser": uid,
        "runAsGroup": uid,
        "runAsNonRoot": True,
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def network_policy(s: Settings) -> dict[str, Any]:
    """z2jh ``singleuser.networkPolicy``: no egress but the hub, the airlock and cluster DNS."""
    return {
        "enabled": True,
        "ingress": [],  # the chart already lets the proxy and the hub in
        "egress": [
            {
                "to": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "vce-airlock"}}}],
                "ports": [{"port": AIRLOCK_PORT, "protocol": "TCP"}],
            }
        ],
        "egressAllowRules": {
            "cloudMetadataServer": False,
            "dnsPortsCloudMetadataServer": False,
            "dnsPortsKubeSystemNamespace": True,
            "dnsPortsPrivateIPs": False,
            "nonPrivateIPs": False,
            "privateIPs": False,
        },
    }


def helm_values(s: Settings) -> dict[str, Any]:
    """Values for the ``jupyterhub`` Helm chart equivalent to the Docker deployment."""
    sandbox, hub = s["sandbox"], s["hub"]
    image, _, tag = sandbox["image"].rpartition(":")
    mem = _k8s_quantity(sandbox["mem_limit"])
    access_airlock = f"access:services!service={AIRLOCK_SERVICE}"
    airlock_url = f"http://vce-airlock:{AIRLOCK_PORT}"
    return {
        "hub": {
            "config": {
                "JupyterHub": {
                    "allow_named_servers": True,
                    "named_server_limit_per_user": 10,
                    "redirect_to_server": False,
                    "admin_access": False,
                    "cleanup_servers": False,
                    "custom_scopes": {
                        REVIEW_SCOPE: {"description": "Review export requests in the airlock."},
                        ADMIN_SCOPE: {"description": "Administer projects in the airlock."},
                    },
                },
                # JupyterHub admin (every scope) only for audited break-glass accounts
                "Authenticator": {"admin_users": list(hub["break_glass_admins"])},
                "Spawner": {
                    "disable_user_config": True,
                    "default_url": "/lab",
                    "server_token_scopes": [
                        "users:activity!user",
                        "access:servers!server",
                        access_airlock,
                    ],
                },
                "KubeSpawner": {
                    "profile_list": [],
                    "options_form": "",
                    "automount_service_account_token": False,
                    "container_security_context": container_security_context(sandbox["uid"]),
                    "pod_security_context": {"fsGroup": sandbox["uid"]},
                    "environment": {
                        "VCE_DATA_DIR": sandbox["data_mount"],
                        "VCE_AIRLOCK_URL": f"{airlock_url}/services/airlock/",
                        "IPYTHONDIR": "/tmp/ipython",
                    },
                },
            },
            "services": {
                AIRLOCK_SERVICE: {
                    "url": airlock_url,
                    "display": True,
                    "oauth_no_confirm": True,
                    "oauth_client_allowed_scopes": [REVIEW_SCOPE, ADMIN_SCOPE],
                }
            },
            "loadRoles": {
                "user": {"scopes": ["self", access_airlock]},
                "vce-reviewer": {
                    "scopes": [REVIEW_SCOPE, access_airlock],
                    "users": list(hub["reviewers"]),
                },
                "vce-administrator": {
                    "scopes": [ADMIN_SCOPE, access_airlock, "list:users", "read:users"],
                    "users": list(hub["admin_users"]),
                },
            },
            "networkPolicy": {"enabled": True},
        },
        "proxy": {"chp": {"networkPolicy": {"enabled": True}}},
        "singleuser": {
            "image": {"name": image, "tag": tag or "latest", "pullPolicy": "IfNotPresent"},
            "uid": sandbox["uid"],
            "fsGid": sandbox["uid"],
            "allowPrivilegeEscalation": False,
            "cmd": "vce-singleuser",
            "memory": {"limit": mem, "guarantee": mem},
            "cpu": {"limit": float(sandbox["cpu_limit"]), "guarantee": float(sandbox["cpu_limit"])},
            "storage": {
                "type": "dynamic",
                "capacity": "10Gi",
                "homeMountPath": sandbox["home"],
                "dynamic": {"pvcNameTemplate": "vce-home-{username}--{servername}"},
                "extraVolumes": [
                    {
                        "name": "tmp",
                        "emptyDir": {
                            "medium": "Memory",
                            "sizeLimit": _k8s_quantity(sandbox["tmp_size"]),
                        },
                    }
                ],
                "extraVolumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
            },
            "networkPolicy": network_policy(s),
        },
        "cull": {
            "enabled": hub["idle_timeout"] > 0,
            "timeout": hub["idle_timeout"],
            "removeNamedServers": False,
        },
    }


def data_volumes(
    catalog_root: Path, grant: SpawnGrant, mount_root: str = "/data"
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """KubeSpawner ``volumes`` and ``volume_mounts`` for a grant: one read-only subPath each.

    ``catalog_root`` is a local copy of the datasets' folder layout (or the extracts
    themselves); each dataset is a ReadOnlyMany PVC named ``vce-data-<dataset>``.
    """
    binds = data_binds(catalog_root, grant.datasets, mount_root, grant.u18_approved)
    volumes = [
        {
            "name": f"data-{name}",
            "persistentVolumeClaim": {"claimName": f"vce-data-{name}", "readOnly": True},
        }
        for name in grant.datasets
    ]
    mounts = []
    for host, target in binds.items():
        rel = Path(host).relative_to(catalog_root)
        dataset, sub = rel.parts[0], Path(*rel.parts[1:])
        mounts.append(
            {
                "name": f"data-{dataset}",
                "mountPath": target,
                "subPath": str(sub),
                "readOnly": True,
            }
        )
    return volumes, mounts


def main() -> int:
    """Print the Helm values for the current deployment settings as YAML."""
    yaml.safe_dump(helm_values(load_settings()), sys.stdout, sort_keys=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
