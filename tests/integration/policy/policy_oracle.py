"""Independent group sizes for checked results, computed with plain DuckDB.

Nothing here uses the policy engine's rewrite: views are built from a glob over the allowed
audience partitions, and group sizes come from hand-written ``count(DISTINCT entity)`` SQL
per group. Tests compare every released row against these numbers.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

PEOPLE = ("users", "videos", "comments", "playlists", "follows", "product_reviews")
OTHER = ("hashtags", "shops", "products")


def plain_connection(data: Path, u18: bool) -> duckdb.DuckDBPyConnection:
    """A DuckDB with one view per table over the partitions a project may see."""
    con = duckdb.connect()
    audiences = "('adult', 'minor')" if u18 else "('adult')"
    for t in PEOPLE:
        con.execute(
            f"CREATE VIEW {t} AS SELECT * FROM read_parquet('{data}/{t}/*/*.parquet', "
            f"hive_partitioning=true) WHERE audience IN {audiences}"
        )
    for t in OTHER:
        con.execute(f"CREATE VIEW {t} AS SELECT * FROM read_parquet('{data}/{t}/*.parquet')")
    return con


def key(values: tuple) -> tuple:
    """Hashable group key that treats floats and timestamps the same on both sides."""
    return tuple(round(v, 9) if isinstance(v, float) else v for v in values)


def top2_views_by_region_month(con: duckdb.DuckDBPyConnection) -> dict[tuple, float]:
    """The two largest per-author view subtotals of every region × month, summed."""
    return {
        (g, m): top
        for g, m, top in con.execute(
            "SELECT region_code, m, sum(s) FILTER (WHERE r <= 2) FROM (SELECT *, row_number() "
            "OVER (PARTITION BY region_code, m ORDER BY s DESC) r FROM (SELECT region_code, "
            "date_trunc('month', create_time) m, author_id, sum(view_count) s FROM videos "
            "GROUP BY ALL)) GROUP BY ALL"
        ).fetchall()
    }
