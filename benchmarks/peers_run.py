"""Time ACRO and SmartNoise SQL on the bench dataset (runs inside .venv-peers, not .venv).

Invoked by ``bench_policy_exec`` as a subprocess because both tools pin dependencies that
conflict with the main lock. Prints one JSON object: seconds per tool and aggregate, plus
the plain pandas time of the same aggregate (the in-process baseline of these tools).
Usage: python peers_run.py DATA_DIR REPEATS
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import sys
import time
from pathlib import Path

import pandas as pd


def best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    logging.disable(logging.CRITICAL)
    data, repeats = Path(sys.argv[1]), int(sys.argv[2])
    files = sorted((data / "videos" / "audience=adult").glob("*.parquet"))
    cols = ["author_id", "region_code", "is_stem_verified", "view_count"]
    df = pd.concat([pd.read_parquet(f, columns=cols) for f in files], ignore_index=True)
    df["is_stem_verified"] = df["is_stem_verified"].astype(str)
    out: dict[str, dict[str, float | str]] = {"rows": {"videos": float(len(df))}}

    aggregates = {
        "count_by_region_stem": (
            lambda: pd.crosstab(df.region_code, df.is_stem_verified),
            "SELECT region_code, is_stem_verified, COUNT(*) AS n FROM public.videos "
            "GROUP BY region_code, is_stem_verified",
        ),
        "mean_views_by_region_stem": (
            lambda: df.groupby(["region_code", "is_stem_verified"])["view_count"].mean(),
            "SELECT region_code, is_stem_verified, AVG(view_count) AS v FROM public.videos "
            "GROUP BY region_code, is_stem_verified",
        ),
    }
    try:
        from acro import ACRO

        acro = ACRO(suppress=True)
        acro_fns = {
            "count_by_region_stem": lambda: acro.crosstab(df.region_code, df.is_stem_verified),
            "mean_views_by_region_stem": lambda: acro.crosstab(
                df.region_code, df.is_stem_verified, values=df.view_count, aggfunc="mean"
            ),
        }
    except Exception as e:  # report, do not hide: the bench prints it
        acro_fns = {}
        out["acro_error"] = {"error": repr(e)}
    try:
        import snsql
        from snsql import Privacy

        meta = {
            "": {
                "public": {
                    "videos": {
                        "row_privacy": False,
                        "max_ids": 1,
                        "author_id": {"type": "int", "private_id": True},
                        "region_code": {"type": "string"},
                        "is_stem_verified": {"type": "string"},
                        "view_count": {"type": "int", "lower": 0, "upper": 100_000},
                    }
                }
            }
        }
        reader = snsql.from_df(df, privacy=Privacy(epsilon=1.0, delta=1e-5), metadata=meta)
        sn_fns = {name: (lambda q=q: reader.execute(q)) for name, (_, q) in aggregates.items()}
    except Exception as e:
        sn_fns = {}
        out["smartnoise_error"] = {"error": repr(e)}

    for name, (raw, _) in aggregates.items():
        row: dict[str, float | str] = {"pandas": best(raw, repeats)}
        for tool, fns in (("acro", acro_fns), ("smartnoise", sn_fns)):
            if name in fns:
                try:
                    row[tool] = best(fns[name], repeats)
                except Exception as e:
                    row[tool] = f"error: {e!r}"[:200]
        out[name] = row
    print(json.dumps(out))


if __name__ == "__main__":
    main()
