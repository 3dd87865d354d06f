"""The generated dataset has the tables, types and shapes research (and disclosure) needs."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from vce.data.schema import TABLES
from vce.policy.model import ColumnClass, load_policy

PEOPLE = [t for t, spec in TABLES.items() if spec.about_people]


@pytest.mark.parametrize("table", list(TABLES))
def test_every_table_has_its_columns_and_types(dataset, table):
    spec = TABLES[table]
    folders = [dataset / table / f"audience={a}" for a in ("adult", "minor", "minor_synthetic")]
    folders = folders if spec.about_people else [dataset / table]
    for folder in folders:
        files = sorted(folder.glob("part-*.parquet"))
        assert files, f"no part files in {folder}"
        schema = pq.read_schema(files[0])
        assert schema.names == spec.schema.names
        for field in spec.schema:
            got = schema.field(field.name).type
            assert got.equals(field.type) or str(got).replace("element", "item") == str(field.type)


def test_manifest_describes_tables_partitions_and_files(dataset):
    doc = json.loads((dataset / "manifest.json").read_text())
    assert doc["name"] == "demo" and doc["version"] and doc["created"]
    assert doc["source"]["seed"] == 7
    assert set(doc["tables"]) == set(TABLES)
    videos = doc["tables"]["videos"]
    assert set(videos["partitions"]) == {"adult", "minor", "minor_synthetic"}
    assert videos["rows"] == videos["partitions"]["adult"] + videos["partitions"]["minor"]
    for f in videos["files"]:
        assert len(f["sha256"]) == 64 and f["bytes"] > 0
    assert doc["changelog"][0]["note"]


def test_sizes_derive_from_videos(con):
    def count(t):
        sql = f"SELECT count(*) FROM {t} WHERE audience <> 'minor_synthetic'"
        return con.sql(sql).fetchone()[0]

    assert count("videos") == 20_000
    assert count("users") == 2_000
    assert 2.5 * 20_000 <= count("comments") <= 3.5 * 20_000


def test_minor_share_of_users_is_between_20_and_30_percent(con):
    share = con.sql(
        "SELECT avg((audience = 'minor')::int) FROM users WHERE audience <> 'minor_synthetic'"
    ).fetchone()[0]
    assert 0.20 <= share <= 0.30


def test_age_band_agrees_with_audience(con):
    wrong = con.sql(
        "SELECT count(*) FROM users WHERE audience <> 'minor_synthetic' AND "
        "(age_band IN ('13-15', '16-17')) <> (audience = 'minor')"
    ).fetchone()[0]
    assert wrong == 0


@pytest.mark.parametrize("table", PEOPLE)
def test_minor_partition_holds_exactly_the_rows_involving_minors(con, table):
    """Recompute from users.age_band which rows involve a minor; compare with the partition."""
    persons = TABLES[table].person_columns
    involves = " OR ".join(f"t.{c} IN (SELECT user_id FROM minors)" for c in persons)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE minors AS SELECT user_id FROM users "
        "WHERE age_band IN ('13-15', '16-17') AND audience = 'minor'"
    )
    mismatched = con.sql(
        f"SELECT count(*) FROM {table} t WHERE t.audience <> 'minor_synthetic' "
        f"AND ({involves}) <> (t.audience = 'minor')"
    ).fetchone()[0]
    in_minor = con.sql(f"SELECT count(*) FROM {table} WHERE audience = 'minor'").fetchone()[0]
    assert mismatched == 0
    assert in_minor > 0


@pytest.mark.parametrize("table", PEOPLE)
def test_synthetic_rows_share_no_identifier_username_or_text_with_real_minors(con, table):
    policy = load_policy()
    checked = 0
    for col, cp in policy.tables[table].columns.items():
        refers_catalogue = cp.refers and cp.refers.split(".")[0] not in PEOPLE
        if cp.cls in (ColumnClass.IDENTIFIER, ColumnClass.FREE_TEXT) and not refers_catalogue:
            shared = con.sql(
                f"SELECT count(*) FROM (SELECT {col} FROM {table} WHERE audience = 'minor_synthetic' "
                f"INTERSECT SELECT {col} FROM {table} WHERE audience = 'minor') "
                f"WHERE {col} IS NOT NULL"
            ).fetchone()[0]
            assert shared == 0, f"{table}.{col} shares {shared} values with real minors"
            checked += 1
    assert checked >= 1


def test_synthetic_rows_roughly_follow_the_minors_marginals(con):
    rows = con.sql(
        "SELECT audience, count(*), avg(view_count), avg(is_stem_verified::int) FROM videos "
        "WHERE audience LIKE 'minor%' GROUP BY 1 ORDER BY 1"
    ).fetchall()
    (_, n_real, views_real, stem_real), (_, n_syn, views_syn, stem_syn) = rows
    assert n_real == n_syn
    assert 0.5 < views_syn / views_real < 2
    assert abs(stem_real - stem_syn) < 0.02


def test_synthetic_world_joins_within_itself(con):
    orphans = con.sql(
        "SELECT count(*) FROM comments c WHERE c.audience = 'minor_synthetic' AND NOT EXISTS "
        "(SELECT 1 FROM videos v WHERE v.id = c.video_id AND v.audience = 'minor_synthetic')"
    ).fetchone()[0]
    authors = con.sql(
        "SELECT count(*) FROM videos v JOIN users u ON u.user_id = v.author_id "
        "WHERE v.audience = 'minor_synthetic' AND u.audience = 'minor_synthetic'"
    ).fetchone()[0]
    assert orphans == 0
    assert (
        authors
        == con.sql("SELECT count(*) FROM videos WHERE audience='minor_synthetic'").fetchone()[0]
    )


def test_views_are_heavy_tailed(con):
    top_share = con.sql(
        "SELECT sum(view_count) FILTER (WHERE r <= n / 100) / sum(view_count) FROM ("
        " SELECT view_count, row_number() OVER (ORDER BY view_count DESC) r, count(*) OVER () n"
        " FROM videos WHERE audience <> 'minor_synthetic')"
    ).fetchone()[0]
    assert top_share > 0.2  # the top 1% of videos hold over a fifth of all views


def test_hashtags_are_zipf_popular(con):
    counts = [r[0] for r in con.sql(
        "SELECT count(*) c FROM (SELECT unnest(hashtag_names) tag FROM videos "
        "WHERE audience <> 'minor_synthetic') GROUP BY tag ORDER BY c DESC"
    ).fetchall()]  # fmt: skip
    assert counts[0] > 20 * counts[len(counts) // 2]


def test_regions_mostly_eu(con):
    eu = con.sql(
        "SELECT avg((region_code NOT IN ('GB','US','TR','BR','UA','IN'))::int) FROM users"
    ).fetchone()[0]
    assert 0.6 < eu < 0.9


def test_time_window_is_12_months_with_weekend_peaks(con):
    lo, hi = con.sql("SELECT min(create_time), max(create_time) FROM videos").fetchone()
    assert 360 <= (hi - lo).days <= 366
    by_dow = dict(con.sql("SELECT isodow(create_time), count(*) FROM videos GROUP BY 1").fetchall())
    assert by_dow[6] > 1.15 * by_dow[2]  # Saturday busier than Tuesday


def test_comment_threads_replies_and_cross_age_comments(con):
    replies, bad_parent = con.sql(
        "SELECT count(*), count(*) FILTER (WHERE p.video_id IS DISTINCT FROM c.video_id "
        "OR p.parent_comment_id IS NOT NULL OR p.create_time > c.create_time) "
        "FROM comments c LEFT JOIN comments p ON p.id = c.parent_comment_id "
        "WHERE c.parent_comment_id IS NOT NULL AND c.audience <> 'minor_synthetic'"
    ).fetchone()
    assert replies > 1000 and bad_parent == 0
    cross = dict(con.sql(
        "SELECT c.audience || '->' || v.audience, count(*) FROM comments c JOIN videos v "
        "ON v.id = c.video_id WHERE c.audience IN ('adult','minor') GROUP BY 1"
    ).fetchall())  # fmt: skip
    assert cross["minor->adult"] > 0 and cross["adult->minor"] > 0


def test_text_is_multilingual_with_research_keywords(con):
    hits = con.sql(
        "SELECT count(*) FILTER (WHERE video_description ILIKE '%climate%'), "
        "count(*) FILTER (WHERE video_description ILIKE '%klima%'), "
        "count(*) FILTER (WHERE video_description ILIKE '%election%'), "
        "count(*) FILTER (WHERE video_description ILIKE '%#%') FROM videos"
    ).fetchone()
    assert all(h > 0 for h in hits)
