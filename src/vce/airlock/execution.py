"""Trusted re-execution: the airlock's call into the policy engine, plus provenance.

The airlock never trusts a sandbox result. It runs the request's SQL itself with
:func:`vce.policy.execute.run_checked` on the full extracts of the project's granted datasets
(real minor partitions only for U18-approved projects) and keeps the releasable table, the
check report and where the data came from (dataset versions and file hashes, policy hash).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from vce.data.manifest import MANIFEST, read_manifest, sandbox_view, sha256_file
from vce.data.schema import SANDBOX_MANIFESTS
from vce.policy.model import DEFAULT_POLICY_PATH, Policy, load_policy


@dataclass
class Outcome:
    """What re-execution decided: ``allowed`` with a table, or blocked with reasons."""

    allowed: bool
    reasons: list[str]
    report: dict[str, Any]
    table: pa.Table | None = None
    provenance: dict[str, Any] = field(default_factory=dict)
    guarded: Any = None  # vce.policy.guarded.GuardedRun: the cells to record


@dataclass(frozen=True)
class History:
    """The release histories a run is compared with (see :mod:`vce.airlock.history`)."""

    stores: list[Any]  # vce.policy.releases.ReleaseStore
    pending: frozenset[str] = frozenset()
    exclude: str | None = None


def dataset_provenance(name: str, root: Path, u18_approved: bool = True) -> dict[str, Any]:
    """Name, version and hashes of the files of one dataset a project's run may read.

    A release's manifest goes to the project: for a project without U18 approval it names
    neither the real minors' files nor the hash of the full manifest (which would show when
    the minors' partition changed), only the adult view's (:func:`vce.data.manifest.sandbox_view`).
    """
    if not (root / MANIFEST).exists():
        return {"name": name, "version": None, "manifest_sha256": None, "files": {}}
    manifest = read_manifest(root)
    audiences = ("adult", "minor") if u18_approved else ("adult",)
    view = manifest if u18_approved else sandbox_view(manifest, audiences)
    whole = root / (MANIFEST if u18_approved else SANDBOX_MANIFESTS[("adult",)])
    return {
        "name": name,
        "dataset": manifest.get("name", name),
        "version": manifest.get("version"),
        "manifest_sha256": sha256_file(whole) if whole.is_file() else None,
        "files": {f["path"]: f["sha256"] for t in view["tables"].values() for f in t["files"]},
    }


class Executor:
    """Loads the policy once and runs checked queries for projects."""

    def __init__(self, policy_path: Path | None, datasets: dict[str, Path]) -> None:
        self.policy_path = policy_path or DEFAULT_POLICY_PATH
        self.policy: Policy = load_policy(self.policy_path)
        self.policy_sha256 = sha256_file(self.policy_path)
        self.datasets = datasets

    def data_dirs(self, granted: list[str]) -> tuple[list[Path], list[str]]:
        """Directories of the granted datasets, plus reasons for any that are not registered."""
        dirs, missing = [], []
        for name in granted:
            root = self.datasets.get(name)
            if root is None or not root.is_dir():
                missing.append(f"dataset {name!r} is granted but not registered on the airlock")
            else:
                dirs.append(root)
        return dirs, missing

    def provenance(self, granted: list[str], u18_approved: bool) -> dict[str, Any]:
        """Where the data and the rules came from, for the manifest."""
        return {
            "datasets": [
                dataset_provenance(n, self.datasets[n], u18_approved)
                for n in granted
                if n in self.datasets
            ],
            "policy": {"path": str(self.policy_path), "sha256": self.policy_sha256},
            "u18_approved": u18_approved,
        }

    def static(self, sql: str, u18_approved: bool) -> Outcome:
        """The static decision alone (no data read): what a researcher may be told at once.

        ``allowed`` means "passed the static check"; a denial carries the rule violations as
        reasons and the static decision as its report.
        """
        from vce.policy.context import Context
        from vce.policy.execute import static_check

        ctx = Context(policy=self.policy, tables=None, u18_approved=u18_approved)
        _, _, violations = static_check(sql, ctx)
        reasons = [_reason(v) for v in violations]
        report = {
            "kind": "static",
            "allowed": not reasons,
            "violations": [v.to_dict() for v in violations],
        }
        return Outcome(not reasons, reasons, report)

    def run(
        self, sql: str, granted: list[str], u18_approved: bool, history: History | None = None
    ) -> Outcome:
        """Run the static check and trusted execution of ``sql`` for a project.

        With ``history``, released rows also pass the differencing guard
        (:mod:`vce.policy.guarded`); the outcome carries the cells to record.
        """
        from vce.policy.context import Context
        from vce.policy.execute import run_checked
        from vce.policy.guarded import run_guarded

        dirs, missing = self.data_dirs(granted)
        prov = self.provenance(granted, u18_approved)
        if missing or not dirs:
            reasons = missing or ["the project has no datasets granted"]
            return Outcome(False, reasons, {"reasons": reasons}, None, prov)
        ctx = Context(policy=self.policy, tables=None, u18_approved=u18_approved)
        guarded = None
        if history is None:
            result = run_checked(sql, ctx, dirs)
        else:
            guarded = run_guarded(
                sql, ctx, dirs, history.stores, pending=history.pending, exclude=history.exclude
            )
            result = guarded.result
        report = result.to_dict()
        report.pop("rows", None)
        table = result.table if result.allowed else None
        reasons = [_reason(r) for r in (result.reasons or [])]
        if result.allowed and (table is None or not result.releases_something):
            if result.withheld:
                reasons.append(
                    "every row was withheld: it differs from another cell by fewer people "
                    "than the threshold (differencing)"
                )
            else:
                reasons.append("every row was suppressed by the disclosure checks")
            return Outcome(False, reasons, report, None, prov)
        return Outcome(bool(result.allowed), reasons, report, table, prov, guarded)


def _reason(v: Any) -> str:
    """A violation as one readable line: ``rule: message (line L, column C)``."""
    rule, message = getattr(v, "rule", None), getattr(v, "message", None)
    if rule is None or message is None:
        return str(v)
    line, col = getattr(v, "line", None), getattr(v, "column", None)
    where = f" (line {line}, column {col})" if line else ""
    return f"{rule}: {message}{where}"


def table_to_parquet(table: pa.Table) -> bytes:
    """Serialize a table for storage in the database."""
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def parquet_to_table(data: bytes) -> pa.Table:
    """Inverse of :func:`table_to_parquet`."""
    return pq.read_table(io.BytesIO(data))
