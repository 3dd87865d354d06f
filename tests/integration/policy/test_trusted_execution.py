"""Trusted execution end to end on a generated dataset: lockdown, partitions, checks, denials."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import duckdb
import pytest
from policy_oracle import plain_connection, top2_views_by_region_month

from vce.policy import Context
from vce.policy.engine import collect_files, locked_cursor, locked_session, open_locked
from vce.policy.execute import run_checked
from vce.policy.model import load_policy

POLICY = load_policy()


def ctx(u18: bool = False, **thresholds: object) -> Context:
    policy = POLICY
    if thresholds:
        policy = dataclasses.replace(
            POLICY, thresholds=dataclasses.replace(POLICY.thresholds, **thresholds)
        )
    return Context(policy=policy, u18_approved=u18)


def test_projects_without_u18_approval_never_read_minor_partitions(dataset: Path) -> None:
    sql = "SELECT age_band, count(*) AS n FROM users GROUP BY age_band"
    plain = run_checked(sql, ctx(u18=False), [dataset])
    approved = run_checked(sql, ctx(u18=True), [dataset])
    partitioned = [f for f in plain.files_read if "audience=" in str(f)]
    assert partitioned and all("audience=adult" in str(f) for f in partitioned)
    assert not any("minor" in str(f) for f in plain.files_read)
    assert any("audience=minor" in str(f) for f in approved.files_read)
    assert not any("minor_synthetic" in str(f) for f in approved.files_read)
    plain_bands = {r["age_band"] for r in plain.table.to_pylist()}
    approved_bands = {r["age_band"] for r in approved.table.to_pylist()}
    assert plain_bands.isdisjoint({"13-15", "16-17"})
    assert {"13-15", "16-17"} <= approved_bands


def test_counting_minor_rows_without_approval_releases_nothing(dataset: Path) -> None:
    sql = "SELECT count(*) AS n FROM videos WHERE audience = 'minor'"
    res = run_checked(sql, ctx(u18=False), [dataset])
    assert res.allowed and res.table.num_rows == 0 and res.suppressed_rows == 1


def test_locked_engine_refuses_everything_but_its_view_files(dataset: Path) -> None:
    files = collect_files([dataset], u18_approved=False)
    for con in (open_locked(files), locked_cursor(files)):
        _attack(con, dataset)


def _attack(con: duckdb.DuckDBPyConnection, dataset: Path) -> None:
    minor = next((dataset / "videos" / "audience=minor").glob("*.parquet"))
    attacks = [
        f"SELECT count(*) FROM read_parquet('{minor}')",
        f"SELECT count(*) FROM read_parquet('{dataset}/videos/*/*.parquet')",
        "SELECT * FROM read_csv('/etc/passwd')",
        "COPY (SELECT 1) TO '/tmp/vce-exfil.csv'",
        "ATTACH '/tmp/vce-exfil.duckdb' AS x",
        "INSTALL httpfs",
        "LOAD httpfs",
        "SET enable_external_access = true",
        "SET allowed_paths = ['/']",
        "RESET lock_configuration",
        "SET memory_limit = '100GB'",
    ]
    for sql in attacks:
        with pytest.raises(duckdb.Error):
            con.execute(sql).fetchall()
    assert con.execute("SELECT count(*) FROM videos").fetchone()[0] > 0
    assert not Path("/tmp/vce-exfil.csv").exists()


def test_runaway_query_stops_with_a_clear_timeout(dataset: Path) -> None:
    sql = (
        "SELECT a.region_code, count(*) AS n FROM videos a JOIN videos b ON a.region_code = "
        "b.region_code JOIN videos c ON c.region_code = b.region_code GROUP BY a.region_code"
    )
    res = run_checked(sql, ctx(), [dataset], timeout_s=0.5)
    assert res.decision.allowed, res.decision.violations
    assert not res.allowed and res.table is None
    assert [r.rule for r in res.reasons] == ["timeout"]
    assert "0.5 s" in res.reasons[0].message


def test_a_cursor_is_reused_only_after_a_clean_request(dataset: Path) -> None:
    """Cursors go back to a pool, but never one an interrupt may still be pending on."""
    files = collect_files([dataset], False, only={"videos"})
    with locked_session(files, timeout_s=60) as (first, _):
        first.execute("SELECT count(*) FROM videos").fetchall()
    with locked_session(files, timeout_s=60) as (again, _):
        assert again is first  # a clean request hands its cursor on
    with locked_session(files, timeout_s=0) as (late, fired):
        assert fired.wait(5)  # the deadline passed, the request itself ended without error
    with locked_session(files, timeout_s=60) as (fresh, _):
        assert fresh is not late
        assert fresh.execute("SELECT count(*) FROM videos").fetchone()[0] > 0  # not interrupted
    with pytest.raises(duckdb.Error), locked_session(files, timeout_s=60) as (broken, _):
        broken.execute("SELECT * FROM no_such_table")
    with locked_session(files, timeout_s=60) as (other, _):
        assert other is not broken


@pytest.mark.parametrize(
    "sql",
    [
        # a correlated scalar subquery: one value per outer row, from rows nobody counts
        "SELECT region_code, count(*) AS n FROM videos v WHERE view_count > "
        "(SELECT avg(w.view_count) FROM videos w WHERE w.region_code = v.region_code) "
        "GROUP BY region_code",
        # lag() carries the neighbouring (possibly suppressed) group into this row
        "SELECT date_trunc('week', create_time) AS week, count(*) AS n, "
        "lag(count(*)) OVER (ORDER BY date_trunc('week', create_time)) AS prev "
        "FROM videos GROUP BY 1",
        "SELECT count(*) AS n FROM (SELECT region_code FROM videos EXCEPT "
        "SELECT region_code FROM users) t",
    ],
)
def test_contributors_not_computable_exactly_are_denied(dataset: Path, sql: str) -> None:
    res = run_checked(sql, ctx(), [dataset])
    assert not res.allowed and res.table is None
    assert res.reasons and res.reasons[0].rule in (
        {"contributors-unknown"} | {v.rule for v in res.decision.violations}
    )


def test_small_groups_are_suppressed_and_counted(dataset: Path) -> None:
    sql = (
        "SELECT region_code, date_trunc('day', create_time) AS day, count(*) AS n "
        "FROM videos GROUP BY region_code, date_trunc('day', create_time)"
    )
    res = run_checked(sql, ctx(), [dataset])
    truth = (
        plain_connection(dataset, False)
        .execute(
            "SELECT count(*) FROM (SELECT region_code, date_trunc('day', create_time), "
            "count(DISTINCT author_id) e FROM videos GROUP BY ALL) WHERE e < 10"
        )
        .fetchone()[0]
    )
    assert truth > 0 and res.suppressed_rows == truth
    threshold = next(c for c in res.checks if c.name == "threshold")
    assert threshold.suppressed == truth and threshold.smallest_group >= 10
    assert all(r["n"] % 5 == 0 for r in res.table.to_pylist())


def test_u18_groups_need_the_stricter_threshold(dataset: Path) -> None:
    sql = "SELECT region_code, count(*) AS n FROM videos GROUP BY region_code"
    truth = dict(
        plain_connection(dataset, True)
        .execute(
            "SELECT region_code, count(DISTINCT author_id) FROM videos GROUP BY 1 "
            "HAVING bool_or(audience = 'minor')"
        )
        .fetchall()
    )
    res = run_checked(sql, ctx(u18=True), [dataset])
    released = {r["region_code"] for r in res.table.to_pylist()}
    for region, authors in truth.items():
        assert (region in released) == (authors >= 50), (region, authors)
    u18 = next(c for c in res.checks if c.name == "u18_threshold")
    assert u18.failed == sum(1 for a in truth.values() if 10 <= a < 50) + sum(
        1 for a in truth.values() if a < 10
    )


@pytest.mark.parametrize("k", [0.3, 0.6])
def test_dominance_matches_an_independent_top2_share(dataset: Path, k: float) -> None:
    sql = "SELECT region_code, sum(view_count) AS views FROM videos GROUP BY region_code"
    share = dict(
        plain_connection(dataset, False)
        .execute(
            "SELECT region_code, sum(s) FILTER (WHERE r <= 2) / sum(s) FROM ("
            " SELECT region_code, s, row_number() OVER (PARTITION BY region_code ORDER BY s DESC)"
            " r FROM (SELECT region_code, author_id, sum(view_count) s FROM videos GROUP BY 1, 2)"
            ") GROUP BY 1 HAVING count(*) >= 10"
        )
        .fetchall()
    )
    res = run_checked(sql, ctx(dominance_k=k), [dataset])
    released = {r["region_code"] for r in res.table.to_pylist()}
    assert released == {g for g, s in share.items() if s <= k}
    assert next(c for c in res.checks if c.name == "dominance").failed == sum(
        1 for s in share.values() if s > k
    )


def test_row_limit_denies_instead_of_truncating(dataset: Path) -> None:
    res = run_checked(
        "SELECT region_code, video_duration FROM videos", ctx(max_rows=100), [dataset]
    )
    assert res.decision.allowed, res.decision.violations
    assert not res.allowed and [r.rule for r in res.reasons] == ["row-limit"]


def test_byte_limit_denies(dataset: Path) -> None:
    sql = "SELECT music_id, count(*) AS n FROM videos GROUP BY music_id"
    res = run_checked(sql, ctx(max_bytes=16), [dataset])
    assert not res.allowed and [r.rule for r in res.reasons] == ["byte-limit"]


def test_row_export_releases_adult_rows_only(dataset: Path) -> None:
    sql = "SELECT region_code, video_duration, view_count FROM videos"
    res = run_checked(sql, ctx(max_rows=10**6, max_bytes=10**9), [dataset])
    adults = plain_connection(dataset, False).execute("SELECT count(*) FROM videos").fetchone()[0]
    assert res.allowed and res.table.num_rows == adults and res.suppressed_rows == 0


def test_minor_rows_never_leave_even_if_static_analysis_lets_them_through(
    dataset: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Static analysis denies row export for U18 projects; the execution side must hold anyway.
    import vce.policy

    real = vce.policy.analyze
    monkeypatch.setattr(
        vce.policy, "analyze", lambda sql, c: dataclasses.replace(real(sql, c), allowed=True)
    )
    sql = "SELECT region_code, video_duration, view_count FROM videos"
    res = run_checked(sql, ctx(u18=True, max_rows=10**6, max_bytes=10**9), [dataset])
    plain = plain_connection(dataset, True)
    adults, minors = plain.execute(
        "SELECT count(*) FILTER (WHERE audience = 'adult'), count(*) FILTER (WHERE audience = "
        "'minor') FROM videos"
    ).fetchone()
    assert minors > 0 and res.allowed
    assert res.table.num_rows == adults and res.suppressed_rows == minors
    assert next(c for c in res.checks if c.name == "minor_rows").suppressed == minors


def test_row_level_rows_of_tables_without_row_export_are_denied(
    dataset: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import vce.policy

    real = vce.policy.analyze
    monkeypatch.setattr(
        vce.policy, "analyze", lambda sql, c: dataclasses.replace(real(sql, c), allowed=True)
    )
    res = run_checked("SELECT like_count FROM comments", ctx(), [dataset])
    assert not res.allowed and [r.rule for r in res.reasons] == ["row-export-not-allowed"]


def test_report_contract(dataset: Path) -> None:
    res = run_checked("SELECT region_code, count(*) AS n FROM videos GROUP BY 1", ctx(), [dataset])
    d = res.to_dict()
    assert {"allowed", "violations", "rows", "suppressed_rows", "checks"} <= set(d)
    assert d["rows"] and all(set(r) == {"region_code", "n"} for r in d["rows"])
    names = [c["name"] for c in d["checks"]]
    assert names == [
        "threshold",
        "u18_threshold",
        "cell_threshold",
        "minor_rows",
        "dominance",
        "order_statistic",
        "anti_join",
        "regression_dof",
        "low_effect",
        "rounding",
        "row_limit",
        "byte_limit",
    ]
    assert all({"passed", "failed", "suppressed", "thresholds"} <= set(c) for c in d["checks"])


def test_semi_join_counts_the_matched_rows_people_as_contributors(dataset: Path) -> None:
    # Videos "with a popular comment": the commenters behind each group are contributors too.
    sql = (
        "SELECT v.region_code, count(*) AS n FROM videos v WHERE EXISTS (SELECT 1 FROM comments"
        " c WHERE c.video_id = v.id AND c.like_count > 60) GROUP BY v.region_code"
    )
    res = run_checked(sql, ctx(), [dataset])
    assert res.allowed, res.reasons
    truth = {
        r[0]: r[1:]
        for r in plain_connection(dataset, False)
        .execute(
            "SELECT v.region_code, count(DISTINCT v.author_id), count(DISTINCT c.author_id) "
            "FROM videos v JOIN comments c ON c.video_id = v.id WHERE c.like_count > 60 "
            "GROUP BY 1"
        )
        .fetchall()
    }
    released = {r["region_code"] for r in res.table.to_pylist()}
    assert released == {g for g, (a, b) in truth.items() if a >= 10 and b >= 10}
    assert res.suppressed_rows == len(truth) - len(released) > 0


def test_scalar_subquery_total_is_checked_as_its_own_group(dataset: Path) -> None:
    narrow = "region_code = 'US' AND is_stem_verified AND view_count > 50000"
    sql = (
        "SELECT region_code, round(100.0 * count(*) / (SELECT count(*) FROM videos "
        f"WHERE {narrow}), 2) AS pct FROM videos GROUP BY region_code"
    )
    small = (
        plain_connection(dataset, False)
        .execute(f"SELECT count(DISTINCT author_id) FROM videos WHERE {narrow}")
        .fetchone()[0]
    )
    res = run_checked(sql, ctx(), [dataset])
    assert small < 10 and res.allowed and res.table.num_rows == 0 and res.suppressed_rows > 0
    wide = run_checked(sql.replace(f"WHERE {narrow}", ""), ctx(), [dataset])
    assert wide.allowed and wide.table.num_rows > 0


def test_lower_bound_never_exceeds_the_exact_distinct_count(dataset: Path) -> None:
    from vce.policy.bounds import lower_bound_sql

    con = plain_connection(dataset, True)
    rows = con.execute(
        f"SELECT count(DISTINCT author_id), {lower_bound_sql('author_id', 4)}, "
        f"{lower_bound_sql('author_id')} FROM comments "
        "GROUP BY date_trunc('day', create_time), like_count % 7"
    ).fetchall()
    assert len(rows) > 100
    for exact, bound, coarse in rows:
        assert coarse <= bound <= exact and (bound == 0) == (exact == 0)
    assert any(coarse < exact for exact, _, coarse in rows)  # the bound is a bound, not a count


def test_large_groups_are_released_on_a_lower_bound_small_ones_counted_exactly(
    dataset: Path,
) -> None:
    big = run_checked("SELECT region_code, count(*) AS n FROM videos GROUP BY 1", ctx(), [dataset])
    threshold = next(c for c in big.checks if c.name == "threshold")
    assert big.released_rows > 0 and "lower bound" in threshold.detail
    small = run_checked(
        "SELECT region_code, music_id, count(*) AS n FROM videos GROUP BY 1, 2", ctx(), [dataset]
    )
    threshold = next(c for c in small.checks if c.name == "threshold")
    assert small.suppressed_rows > 0 and threshold.detail == ""


def test_an_undecided_join_runs_each_pass_once(
    dataset: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A join its row counts do not decide (small data): one hashed pass, then exact."""
    import vce.policy.execute as execute

    calls: list[bool] = []
    real = execute._execute

    def counted(con, sql, rw, context, fast, stats=None):  # type: ignore[no-untyped-def]
        calls.append(fast)
        return real(con, sql, rw, context, fast, stats)

    monkeypatch.setattr(execute, "_execute", counted)
    res = run_checked(
        "SELECT v.region_code, count(*) AS n FROM comments AS c "
        "JOIN videos AS v ON c.video_id = v.id GROUP BY 1",
        ctx(min_entities=1000),  # above any hashed bound: exact counting decides
        [dataset],
    )
    assert res.allowed
    assert calls == [True, False]


def test_inline_dominance_bound_is_never_below_the_exact_top2(dataset: Path) -> None:
    from vce.policy.rewrite import rewrite

    sql = (
        "SELECT region_code, date_trunc('month', create_time) AS m, sum(view_count) AS views "
        "FROM videos GROUP BY region_code, date_trunc('month', create_time)"
    )
    con = plain_connection(dataset, False)
    rw = rewrite(sql, POLICY, minors_possible=False)
    bound = {
        (r["region_code"], r["m"]): (r["__vce_dtop0"], r["__vce_dtot0"])
        for r in con.execute(rw.fast_sql).to_arrow_table().to_pylist()
    }
    exact = top2_views_by_region_month(con)
    assert len(exact) > 50 and set(exact) == set(bound)
    assert all(bound[k][0] >= exact[k] for k in exact)
    assert sum(bound[k][0] < 0.9 * float(bound[k][1]) for k in exact) > len(exact) / 2


@pytest.mark.parametrize(
    "aggregate",
    [
        "count_if(u.age_band = '45+')",
        "count(*) FILTER (WHERE u.age_band = '45+')",
        "sum(CASE WHEN u.age_band = '45+' THEN 1 ELSE 0 END)",
        "avg(CAST(u.age_band = '45+' AS INT))",
    ],
)
def test_small_cells_inside_large_groups_are_suppressed(dataset: Path, aggregate: str) -> None:
    sql = f"SELECT u.region_code, {aggregate} AS n, count(*) AS users FROM users u GROUP BY 1"
    truth = dict(
        plain_connection(dataset, False)
        .execute(
            "SELECT u.region_code, count(DISTINCT u.user_id) FILTER (WHERE u.age_band = '45+') "
            "FROM users u GROUP BY 1"
        )
        .fetchall()
    )
    res = run_checked(sql, ctx(), [dataset])
    assert res.allowed, res.reasons
    released = {r["region_code"] for r in res.table.to_pylist()}
    # an empty cell is withheld like a one-person one (empty-cell): 0 says "nobody here is 45+"
    assert released == {g for g, c in truth.items() if c >= 10}
    cells = next(c for c in res.checks if c.name == "cell_threshold")
    assert cells.failed == sum(1 for c in truth.values() if c < 10) > 0


def test_share_of_total_over_groups_is_denied_before_running(dataset: Path) -> None:
    """A window over groups adds up suppressed groups too (issue 14): denied, nothing read."""
    sql = (
        "WITH weekly AS (SELECT date_trunc('week', create_time) AS week, count(*) AS n "
        "FROM videos GROUP BY 1) SELECT week, n, n * 1.0 / sum(n) OVER () AS share FROM weekly"
    )
    res = run_checked(sql, ctx(), [dataset])
    assert not res.allowed and not res.files_read
    assert [v.rule for v in res.reasons] == ["window-function"]


def test_markdown_report_names_every_check_and_the_release(dataset: Path) -> None:
    from vce.policy.report import render_markdown

    res = run_checked(
        "SELECT region_code, music_id, count(*) AS n FROM videos GROUP BY 1, 2", ctx(), [dataset]
    )
    text = render_markdown(res.to_dict())
    assert text.startswith(f"**Released**: {res.released_rows} rows, {res.suppressed_rows} ")
    assert all(f"| {c.name} |" in text for c in res.checks)


def test_missing_data_is_denied_with_what_is_wrong(dataset: Path, tmp_path: Path) -> None:
    """A folder without tables names the --data fix; a table not there names the grant."""
    sql = "SELECT date_trunc('month', create_time) AS m, count(*) AS n FROM comments GROUP BY 1"
    empty = run_checked(sql, ctx(), [tmp_path])
    assert not empty.allowed
    assert empty.reasons[0].rule == "data-unavailable"
    assert "no tables found" in empty.reasons[0].message
    only_videos = tmp_path / "only-videos"
    only_videos.mkdir()
    (only_videos / "videos").symlink_to(dataset / "videos", target_is_directory=True)
    partial = run_checked(sql, ctx(), [only_videos])
    assert not partial.allowed
    assert "comments" in partial.reasons[0].message
    assert "granted datasets" in partial.reasons[0].message
    assert run_checked(sql.replace("comments", "videos"), ctx(), [only_videos]).allowed
