"""The tables of a VCE dataset: column names, types and who each row is about.

Field names follow the video platform's public Research API so that researchers' existing
queries read naturally. Column *classes* (identifier, free text, …) are a policy concern and
live in ``policies/default.yaml``; this module only fixes the physical shape and the people
columns that decide a row's audience partition.

Types are declared once, as DuckDB SQL type names: the policy engine and the locked-down
connections need nothing else, so checking a query never imports pyarrow (a tenth of a second
at every ``vce`` command's start). :attr:`Table.schema` derives the Arrow schema where data
is written or read as Arrow.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

AUDIENCES = ("adult", "minor", "minor_synthetic")
"""Hive partition values: real adults, real minors, and synthetic stand-ins for minors."""

MANIFEST = "manifest.json"
SANDBOX_MANIFESTS = {
    ("adult",): "manifest.sandbox.json",
    ("adult", "minor_synthetic"): "manifest.sandbox-u18.json",
}
"""Per set of visible partitions, the file a sandbox is shown as its ``manifest.json``.

Written beside the dataset's manifest by :func:`vce.data.manifest.sandbox_view`; kept here,
free of pyarrow, so the hub can name them without importing it.
"""

AGE_BANDS = ("13-15", "16-17", "18-24", "25-34", "35-44", "45+")
MINOR_AGE_BANDS = frozenset({"13-15", "16-17"})

PARTITION_COLUMN = "audience"
"""Hive partition column of every table about people; a dimension (adult, minor, …)."""


def arrow_type(sql_type: str) -> pa.DataType:
    """The Arrow type of a column declared as DuckDB ``sql_type``.

    >>> arrow_type("VARCHAR[]"), arrow_type("TIMESTAMP")
    (ListType(list<item: string>), TimestampType(timestamp[us]))
    """
    import pyarrow as pa

    if sql_type.endswith("[]"):
        return pa.list_(arrow_type(sql_type[:-2]))
    return {
        "TINYINT": pa.int8(),
        "INTEGER": pa.int32(),
        "BIGINT": pa.int64(),
        "DOUBLE": pa.float64(),
        "BOOLEAN": pa.bool_(),
        "VARCHAR": pa.string(),
        "TIMESTAMP": pa.timestamp("us"),
    }[sql_type]


@dataclass(frozen=True, eq=False)
class Table:
    """One table: its columns (name → DuckDB type) and who each row is about.

    ``person_columns`` are the user ids whose age decides the audience partition: a row is
    ``minor`` when any of them belongs to a user under 18. Tables with no person columns
    (shops, products, hashtags) are not partitioned.
    """

    name: str
    columns: dict[str, str]
    person_columns: tuple[str, ...] = ()
    key: str | None = None

    @property
    def about_people(self) -> bool:
        """Whether rows are about people, hence partitioned by ``audience``."""
        return bool(self.person_columns)

    @functools.cached_property
    def schema(self) -> pa.Schema:
        """The Arrow schema of the table's files (without the ``audience`` partition column)."""
        import pyarrow as pa

        return pa.schema([pa.field(n, arrow_type(t)) for n, t in self.columns.items()])

    def empty_select(self) -> str:
        """A typed zero-row SELECT with the table's columns.

        The view of a table none of whose files may be read (e.g. only minors' rows, outside a
        U18 project).

        >>> TABLES["hashtags"].empty_select()
        'SELECT CAST(NULL AS BIGINT) AS "id", CAST(NULL AS VARCHAR) AS "name", CAST(NULL AS VARCHAR) AS "description" WHERE false'
        """  # noqa: E501
        cols = [f'CAST(NULL AS {t}) AS "{n}"' for n, t in self.columns.items()]
        if self.about_people:
            cols.append(f'CAST(NULL AS VARCHAR) AS "{PARTITION_COLUMN}"')
        return f"SELECT {', '.join(cols)} WHERE false"


def _columns(*fields: tuple[str, str]) -> dict[str, str]:
    return dict(fields)


TABLES: dict[str, Table] = {
    t.name: t
    for t in [
        Table(
            "users",
            _columns(
                ("user_id", "BIGINT"),
                ("username", "VARCHAR"),
                ("display_name", "VARCHAR"),
                ("bio_description", "VARCHAR"),
                ("region_code", "VARCHAR"),
                ("age_band", "VARCHAR"),
                ("is_verified", "BOOLEAN"),
                ("follower_count", "BIGINT"),
                ("following_count", "BIGINT"),
                ("likes_count", "BIGINT"),
                ("video_count", "BIGINT"),
                ("create_time", "TIMESTAMP"),
            ),
            person_columns=("user_id",),
            key="user_id",
        ),
        Table(
            "videos",
            _columns(
                ("id", "BIGINT"),
                ("author_id", "BIGINT"),
                ("username", "VARCHAR"),
                ("create_time", "TIMESTAMP"),
                ("region_code", "VARCHAR"),
                ("video_description", "VARCHAR"),
                ("music_id", "BIGINT"),
                ("hashtag_names", "VARCHAR[]"),
                ("effect_ids", "VARCHAR[]"),
                ("playlist_id", "BIGINT"),
                ("voice_to_text", "VARCHAR"),
                ("is_stem_verified", "BOOLEAN"),
                ("video_duration", "INTEGER"),
                ("view_count", "BIGINT"),
                ("like_count", "BIGINT"),
                ("comment_count", "BIGINT"),
                ("share_count", "BIGINT"),
                ("favorites_count", "BIGINT"),
            ),
            person_columns=("author_id",),
            key="id",
        ),
        Table(
            "comments",
            _columns(
                ("id", "BIGINT"),
                ("video_id", "BIGINT"),
                ("author_id", "BIGINT"),
                ("text", "VARCHAR"),
                ("like_count", "BIGINT"),
                ("reply_count", "BIGINT"),
                ("parent_comment_id", "BIGINT"),
                ("create_time", "TIMESTAMP"),
            ),
            person_columns=("author_id",),
            key="id",
        ),
        Table(
            "hashtags",
            _columns(("id", "BIGINT"), ("name", "VARCHAR"), ("description", "VARCHAR")),
            key="id",
        ),
        Table(
            "playlists",
            _columns(
                ("playlist_id", "BIGINT"),
                ("playlist_name", "VARCHAR"),
                ("author_id", "BIGINT"),
                ("playlist_item_total", "INTEGER"),
                ("playlist_last_updated", "TIMESTAMP"),
            ),
            person_columns=("author_id",),
            key="playlist_id",
        ),
        Table(
            "follows",
            _columns(
                ("follower_id", "BIGINT"),
                ("following_id", "BIGINT"),
                ("create_time", "TIMESTAMP"),
            ),
            person_columns=("follower_id", "following_id"),
        ),
        Table(
            "shops",
            _columns(
                ("shop_id", "BIGINT"),
                ("shop_name", "VARCHAR"),
                ("region_code", "VARCHAR"),
                ("shop_rating", "DOUBLE"),
                ("shop_review_count", "BIGINT"),
                ("item_sold_count", "BIGINT"),
            ),
            key="shop_id",
        ),
        Table(
            "products",
            _columns(
                ("product_id", "BIGINT"),
                ("shop_id", "BIGINT"),
                ("product_name", "VARCHAR"),
                ("product_description", "VARCHAR"),
                ("product_price", "DOUBLE"),
                ("product_rating", "DOUBLE"),
                ("product_review_count", "BIGINT"),
                ("product_sold_count", "BIGINT"),
            ),
            key="product_id",
        ),
        Table(
            "product_reviews",
            _columns(
                ("id", "BIGINT"),
                ("product_id", "BIGINT"),
                ("reviewer_id", "BIGINT"),
                ("review_text", "VARCHAR"),
                ("review_rating", "TINYINT"),
                ("review_like_count", "BIGINT"),
                ("create_time", "TIMESTAMP"),
            ),
            person_columns=("reviewer_id",),
            key="id",
        ),
    ]
}


def table(name: str) -> Table:
    """Return the table called ``name``, or fail naming the known tables.

    >>> table("videos").person_columns
    ('author_id',)
    >>> table("video")
    Traceback (most recent call last):
    ...
    KeyError: "unknown table 'video'; known tables: users, videos, comments, hashtags, ..."
    """
    try:
        return TABLES[name]
    except KeyError:
        known = ", ".join(list(TABLES)[:4])
        raise KeyError(f"unknown table {name!r}; known tables: {known}, ...") from None
