"""File exports from the attacker's side (issue 13, finding 3): every smuggling form is refused.

The smuggled rows come from the real generated dataset (minors included); whether a file
"carries usernames" is recomputed here with plain DuckDB over the dataset's Parquet. Content
checks (researcher-safe) are called directly; the data-consulting check (reviewers only) runs
real DuckDB over the real Parquet; file names and Content-Disposition go through the real
airlock HTTP API behind a real JupyterHub.
"""

from __future__ import annotations

import base64
import csv
import email.message
import io
import sqlite3
from pathlib import Path

import duckdb
import pytest
from airlock_hub import Hub, who
from PIL import Image, PngImagePlugin
from test_airlock_api import call, file_body, wait_checked

from vce.airlock.errors import Conflict
from vce.airlock.filechecks import check_file
from vce.airlock.workflow import Airlock
from vce.policy.model import load_policy

LIMITS = {"max_bytes": 16 * 1024 * 1024, "max_rows": 5000, "min_count": 10, "rounding": 5}
TRUSTED = ("adult", "minor")  # what the airlock reads for a U18-approved project


def parquet(dataset: Path, table: str) -> str:
    files = [
        str(f)
        for a in TRUSTED
        for f in sorted((dataset / table / f"audience={a}").glob("*.parquet"))
    ]
    return "read_parquet([" + ", ".join(f"'{f}'" for f in files) + "])"


def real_users(dataset: Path, n: int) -> list[tuple]:
    """``n`` real users, minors first: (user_id, username, display_name, bio_description)."""
    return duckdb.sql(
        f"SELECT user_id, username, display_name, bio_description, audience "
        f"FROM {parquet(dataset, 'users')} ORDER BY audience DESC, user_id LIMIT {n}"
    ).fetchall()


def distinct_in(dataset: Path, table: str, column: str, values: list) -> int:
    """Ground truth: how many distinct values of ``table.column`` occur among ``values``."""
    con = duckdb.connect()
    con.execute("CREATE TABLE v AS SELECT unnest(?) AS x", [values])
    return con.execute(
        f"SELECT count(DISTINCT {column}) FROM {parquet(dataset, table)} "
        f"WHERE lower(CAST({column} AS VARCHAR)) IN (SELECT lower(CAST(x AS VARCHAR)) FROM v)"
    ).fetchone()[0]


def to_csv(rows: list[list], delimiter: str = ",") -> bytes:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter).writerows(rows)
    return out.getvalue().encode()


def values_check(dataset: Path, name: str, content: bytes) -> list[str]:
    """The data-consulting check, as a U18-approved project's reviewers get it."""
    from vce.airlock.filevalues import check_file_values

    return check_file_values(name, content, [dataset], load_policy(), True)


def png(image: Image.Image, **save) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG", **save)
    return buf.getvalue()


def chart() -> Image.Image:
    """A benign figure: bars and a line, drawn by Pillow."""
    from PIL import ImageDraw

    im = Image.new("RGB", (320, 200), "white")
    d = ImageDraw.Draw(im)
    for i, h in enumerate([120, 80, 150, 60, 100]):
        d.rectangle([20 + 60 * i, 190 - h, 60 + 60 * i, 190], fill=(31, 119, 180))
    d.line([(20, 150), (300, 40)], fill=(255, 127, 14), width=3)
    d.text((10, 5), "videos per region", fill="black")
    return im


# ------------------------------------------------------------------ tables and text of people


def test_csv_of_raw_user_rows_is_blocked(dataset: Path) -> None:
    users = real_users(dataset, 200)
    assert sum(u[4] == "minor" for u in users) >= 50  # real minors among them
    content = to_csv([["user_id", "username", "bio"]] + [[u[0], u[1], u[3]] for u in users])
    report = check_file("users.csv", content, **LIMITS)
    assert any("'username'" in r for r in report.reasons), report.reasons
    assert report.content is None  # nothing to store or release
    reasons = values_check(dataset, "users.csv", content)
    for column, values in (("user_id", [u[0] for u in users]), ("username", [u[1] for u in users])):
        n = distinct_in(dataset, "users", column, values)
        assert n == 200
        assert f"the file carries {n} value(s) of users.{column} (identifier)" in " ".join(reasons)
    assert any(r.startswith("the file carries") and "users.bio_description" in r for r in reasons)
    for u in users:  # reasons name columns, never a value
        assert not any(str(u[0]) in r or u[1] in r for r in reasons)


@pytest.mark.parametrize("n", [30, 200])
def test_csv_of_usernames_and_bios_is_blocked(dataset: Path, n: int) -> None:
    users = real_users(dataset, n)
    content = to_csv([["name", "bio"]] + [[u[1], u[3]] for u in users])
    reasons = values_check(dataset, "people.csv", content)
    usernames = [u[1] for u in users]
    expected = distinct_in(dataset, "users", "username", usernames)
    assert expected == n
    assert f"the file carries {expected} value(s) of users.username (identifier)" in " ".join(
        reasons
    )
    assert any("users.bio_description (free_text)" in r for r in reasons)
    if n >= 50:  # and the content check alone already refuses a listing this long
        assert check_file("people.csv", content, **LIMITS).reasons


def test_txt_and_tsv_of_usernames_and_bios_are_blocked(dataset: Path) -> None:
    users = real_users(dataset, 40)
    text = "\n".join(f"@{u[1]}: {u[3]}" for u in users).encode()
    lines = "\n".join(u[3] for u in users if u[3]).encode()
    tsv = to_csv([["who", "says"]] + [[u[2], u[3]] for u in users], delimiter="\t")
    expected = distinct_in(dataset, "users", "username", [u[1] for u in users])
    assert f"the file carries {expected} value(s) of users.username (identifier)" in " ".join(
        values_check(dataset, "notes.txt", text)
    )
    assert any("users.bio_description" in r for r in values_check(dataset, "bios.md", lines))
    tsv_reasons = values_check(dataset, "names.tsv", tsv)
    assert any("users.display_name (free_text)" in r for r in tsv_reasons), tsv_reasons


def test_identifiers_as_numbers_are_found_but_small_numbers_are_not(dataset: Path) -> None:
    users = real_users(dataset, 20)
    ids = to_csv([["id", "followers"]] + [[u[0], 100] for u in users])
    assert "the file carries 20 value(s) of users.user_id (identifier)" in " ".join(
        values_check(dataset, "ids.csv", ids)
    )
    counts = to_csv([["n"]] + [[i] for i in (5, 10, 2024, 12345, 99995)])
    assert values_check(dataset, "counts.csv", counts) == []


def test_benign_aggregated_tables_pass_both_checks(dataset: Path) -> None:
    con = duckdb.connect()
    regions = con.execute(
        f"SELECT region_code, round(count(*) / 5) * 5 AS videos FROM {parquet(dataset, 'videos')} "
        "GROUP BY 1 ORDER BY 1"
    ).fetchall()
    tags = con.execute(
        f"SELECT tag, round(count(*) / 5) * 5 AS n FROM (SELECT unnest(hashtag_names) AS tag "
        f"FROM {parquet(dataset, 'videos')}) GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 40"
    ).fetchall()
    for name, rows in (
        ("regions.csv", [["region_code", "videos"], *regions]),
        ("hashtags.tsv", [["hashtag", "videos"], *tags]),
    ):
        content = to_csv([list(r) for r in rows], delimiter="\t" if name.endswith("tsv") else ",")
        report = check_file(name, content, **LIMITS)
        assert report.reasons == [] and report.content == content, report.reasons
        assert values_check(dataset, name, content) == []
    summary = b"OLS regression of log(views) on region\nR-squared: 0.12\nregion_code DE  0.31\n"
    assert check_file("model.txt", summary, **LIMITS).reasons == []
    assert values_check(dataset, "model.txt", summary) == []


# ------------------------------------------------------------------ figures and other types


def test_png_followed_by_parquet_is_refused(dataset: Path) -> None:
    tiny = png(Image.new("RGB", (1, 1), "white"))
    payload = (dataset / "users" / "audience=minor").glob("*.parquet").__next__().read_bytes()
    assert payload.startswith(b"PAR1")
    report = check_file("fig.png", tiny + payload, **LIMITS)
    assert report.reasons and "after the end of its image data" in report.reasons[0]
    assert report.content is None
    assert check_file("fig.png", tiny, **LIMITS).reasons == []  # the image alone is fine


@pytest.mark.parametrize("name", ["fig.pdf", "fig.png"])
def test_pdf_header_followed_by_parquet_is_refused(dataset: Path, name: str) -> None:
    payload = next((dataset / "comments" / "audience=minor").glob("*.parquet")).read_bytes()
    report = check_file(name, b"%PDF-1.7\n" + payload, **LIMITS)
    assert report.reasons and report.content is None
    assert "PNG" in report.reasons[0]  # the fix: export the figure as PNG


def test_svg_is_refused_with_the_fix() -> None:
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><desc>anna_164,bio</desc></svg>'
    report = check_file("fig.svg", svg, **LIMITS)
    assert report.reasons and "export the figure as PNG" in report.reasons[0]


def test_animated_and_oversized_pngs_are_refused() -> None:
    frames = [Image.new("RGB", (8, 8), c) for c in ("red", "blue")]
    buf = io.BytesIO()
    frames[0].save(buf, "PNG", save_all=True, append_images=frames[1:])
    assert "2 frames" in check_file("anim.png", buf.getvalue(), **LIMITS).reasons[0]
    big = png(Image.new("L", (200, 100)))
    assert "pixels" in check_file("big.png", big, **LIMITS, max_pixels=10_000).reasons[0]


def test_benign_chart_is_stored_re_encoded_without_extra_chunks() -> None:
    image = chart()
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "anna_164 | j'y crois pas " * 50)
    info.add(b"prVt", b"PAR1" + bytes(range(256)) * 20)  # a private ancillary chunk
    sent = png(image, pnginfo=info)
    report = check_file("chart.png", sent, **LIMITS)
    assert report.reasons == [] and report.content is not None
    stored = report.content
    assert stored != sent and b"prVt" not in stored and b"anna_164" not in stored
    assert b"tEXt" not in stored and b"iTXt" not in stored and b"zTXt" not in stored
    out = Image.open(io.BytesIO(stored))
    assert out.size == image.size
    assert out.convert("RGBA").tobytes() == image.convert("RGBA").tobytes()  # same pixels


# ------------------------------------------------------------------ names, headers, releases

UNSAFE_NAMES = [
    "fig\x00.png",
    "fig\r\nX-Injected: 1.png",
    'fig".png',
    'fig"; filename=evil.exe; x=".png',
    "README.md",
    "readme.MD",
    "manifest.json",
    "result.csv",
    "CON.txt",
    "nul.csv",
    "../fig.png",
    ".hidden.png",
    "fig.png.exe",
    "fig.tar.csv",
    "fig",
    "fig.pdf",
    "fig.svg",
    "übersicht.csv",
    "a" * 101 + ".csv",
]


@pytest.mark.parametrize("name", UNSAFE_NAMES, ids=[repr(n)[:30] for n in UNSAFE_NAMES])
def test_unsafe_file_names_are_refused_at_submission(hub: Hub, name: str) -> None:
    before = call(hub, "boss", "GET", "api/requests?limit=1").json()["total"]
    r = call(
        hub,
        "alice",
        "POST",
        "api/requests",
        json=file_body(name, b"region,n\nDE,15\n", name="figure"),
    )
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "invalid_filename"
    assert call(hub, "boss", "GET", "api/requests?limit=1").json()["total"] == before


@pytest.mark.parametrize(
    "stored",
    ['a"; filename=evil.exe; x=".png', 'a"; filename=evil.exe\r\nSet-Cookie: s=1; x=".png'],
    ids=["quote", "quote-crlf"],
)
def test_content_disposition_of_a_name_stored_before_validation(hub: Hub, stored: str) -> None:
    sent = png(chart())
    r = call(
        hub,
        "alice",
        "POST",
        "api/requests",
        json=file_body("chart.png", sent, name="chart"),
    )
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    assert wait_checked(hub, rid)["state"] == "awaiting_review"
    with sqlite3.connect(hub.state_dir / "airlock.sqlite") as db:  # a row from before the check
        db.execute("UPDATE requests SET filename = ? WHERE id = ?", (stored, rid))
    seen = call(hub, "rev1", "GET", f"api/requests/{rid}/content")
    assert seen.status_code == 200, seen.text
    assert "Set-Cookie" not in seen.headers and "s=1" not in seen.headers.get("Set-Cookie", "")
    header = seen.headers["Content-Disposition"]
    msg = email.message.Message()
    msg["Content-Disposition"] = header
    params = msg.get_params(header="Content-Disposition")
    assert [k for k, _ in params] == ["attachment", "filename", "filename"], header
    fallback, encoded = params[1][1], params[2][1]  # filename="...", filename*=UTF-8''...
    assert isinstance(fallback, str) and fallback != "evil.exe"
    assert encoded == ("UTF-8", "", stored)  # RFC 8187, decoded by the email package


def test_release_never_replaces_a_generated_file(airlock: Airlock) -> None:
    rid = airlock.submit(
        who("alice"),
        {
            "kind": "file",
            "project": "p1",
            "name": "notes",
            "purpose": "notes",
            "filename": "notes.md",
            "content_base64": base64.b64encode(b"# my own README\n").decode(),
        },
    )["id"]
    airlock.process(rid)
    from vce.airlock.models import Request

    with airlock.db.session() as s:  # a request stored before names were checked
        s.get(Request, rid).filename = "README.md"
    airlock.vote(who("rev1"), rid, "approve")
    airlock.vote(who("rev2"), rid, "approve")
    with pytest.raises(Conflict):
        airlock.release(rid)
    assert airlock.get(who("boss"), rid)["state"] == "approved"
    assert not (airlock.settings.releases_dir / "p1" / f"request-{rid}").exists()


# ------------------------------------------------------------------ the workflow, wired


def _send(airlock: Airlock, name: str, content: bytes) -> tuple[dict, int]:
    out = airlock.submit(who("alice"), file_body(name, content, name=name))
    airlock.process(out["id"])
    return out, out["id"]


def test_a_file_of_real_usernames_is_blocked_for_reviewers_only(
    airlock: Airlock, dataset: Path
) -> None:
    """30 usernames pass the content check (too few for high cardinality), so only the check
    against the data stops them — and its verdict is a fact about real people."""
    adults = [u for u in real_users(dataset, 2000) if u[4] == "adult"][:30]  # p1: no U18
    content = to_csv([["name", "n"]] + [[u[1], 10] for u in adults])
    out, rid = _send(airlock, "names.csv", content)
    assert out["state"] == "submitted" and out["reasons"] == []
    staff = airlock.get(who("rev1"), rid)
    assert staff["state"] == "blocked"
    assert any("users.username (identifier)" in r for r in staff["reasons"]), staff["reasons"]
    mine = airlock.get(who("alice"), rid)
    assert mine["state"] == "submitted" and mine["reasons"] == [] and mine["report"] is None


def test_smuggled_png_is_denied_at_once_and_a_chart_is_stored_re_encoded(
    airlock: Airlock,
) -> None:
    tiny = png(Image.new("RGB", (1, 1)))
    out, _ = _send(airlock, "fig.png", tiny + b"PAR1" + bytes(range(256)) * 64)
    assert out["state"] == "denied" and out["reasons"]
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "hidden text")
    sent = png(chart(), pnginfo=info)
    out, rid = _send(airlock, "chart.png", sent)
    assert airlock.get(who("rev1"), rid)["state"] == "awaiting_review"
    _, stored = airlock.request_content(who("rev1"), rid)
    assert stored != sent and b"hidden text" not in stored
    assert Image.open(io.BytesIO(stored)).convert("RGB").tobytes() == chart().tobytes()
