from __future__ import annotations

import duckdb
import pytest


@pytest.fixture(scope="module")
def con(dataset):
    """DuckDB with one view per table over *all* partitions of the shared dataset."""
    c = duckdb.connect()
    for t in ("users", "videos", "comments", "playlists", "follows", "product_reviews"):
        c.execute(
            f"CREATE VIEW {t} AS SELECT * FROM read_parquet('{dataset}/{t}/*/*.parquet', "
            "hive_partitioning = true)"
        )
    for t in ("hashtags", "shops", "products"):
        c.execute(f"CREATE VIEW {t} AS SELECT * FROM read_parquet('{dataset}/{t}/*.parquet')")
    return c
