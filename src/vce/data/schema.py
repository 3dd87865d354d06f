"""The tables of a VCE dataset: column names, Arrow types and who each row is about.

Field names follow the video platform's public Research API so that researchers' existing
queries read naturally. Column *classes* (identifier, free text, …) are a policy concern and
live in ``policies/default.yaml``; this module only fixes the physical shape and the people
columns that decide a row's audience partition.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

TS = pa.timestamp("us")
STR_LIST = pa.list_(pa.string())

AUDIENCES = ("adult", "minor", "minor_synthetic")
"""Hive partition values: real adults, real minors, and synthetic stand-ins for minors."""

AGE_BANDS = ("13-15", "16-17", "18-24", "25-34", "35-44", "45+")
MINOR_AGE_BANDS = frozenset({"13-15", "16-17"})


@dataclass(frozen=True)
class Table:
    """One table: its Arrow schema and the columns naming the people a row is about.

    ``person_columns`` are the user ids whose age decides the audience partition: a row is
    ``minor`` when any of them belongs to a user under 18. Tables with no person columns
    (shops, products, hashtags) are not partitioned.
    """

    name: str
    schema: pa.Schema
    person_columns: tuple[str, ...] = ()
    key: str | None = None

    @property
    def about_people(self) -> bool:
        """Whether rows are about people, hence partitioned by ``audience``."""
        return bool(self.person_columns)


def _schema(*fields: tuple[str, pa.DataType]) -> pa.Schema:
    return pa.schema([pa.field(n, t) for n, t in fields])


TABLES: dict[str, Table] = {
    t.name: t
    for t in [
        Table(
            "users",
            _schema(
                ("user_id", pa.int64()),
                ("username", pa.string()),
                ("display_name", pa.string()),
                ("bio_description", pa.string()),
                ("region_code", pa.string()),
                ("age_band", pa.string()),
                ("is_verified", pa.bool_()),
                ("follower_count", pa.int64()),
                ("following_count", pa.int64()),
                ("likes_count", pa.int64()),
                ("video_count", pa.int64()),
                ("create_time", TS),
            ),
            person_columns=("user_id",),
            key="user_id",
        ),
        Table(
            "videos",
            _schema(
                ("id", pa.int64()),
                ("author_id", pa.int64()),
                ("username", pa.string()),
                ("create_time", TS),
                ("region_code", pa.string()),
                ("video_description", pa.string()),
                ("music_id", pa.int64()),
                ("hashtag_names", STR_LIST),
                ("effect_ids", STR_LIST),
                ("playlist_id", pa.int64()),
                ("voice_to_text", pa.string()),
                ("is_stem_verified", pa.bool_()),
                ("video_duration", pa.int32()),
                ("view_count", pa.int64()),
                ("like_count", pa.int64()),
                ("comment_count", pa.int64()),
                ("share_count", pa.int64()),
                ("favorites_count", pa.int64()),
            ),
            person_columns=("author_id",),
            key="id",
        ),
        Table(
            "comments",
            _schema(
                ("id", pa.int64()),
                ("video_id", pa.int64()),
                ("author_id", pa.int64()),
                ("text", pa.string()),
                ("like_count", pa.int64()),
                ("reply_count", pa.int64()),
                ("parent_comment_id", pa.int64()),
                ("create_time", TS),
            ),
            person_columns=("author_id",),
            key="id",
        ),
        Table(
            "hashtags",
            _schema(("id", pa.int64()), ("name", pa.string()), ("description", pa.string())),
            key="id",
        ),
        Table(
            "playlists",
            _schema(
                ("playlist_id", pa.int64()),
                ("playlist_name", pa.string()),
                ("author_id", pa.int64()),
                ("playlist_item_total", pa.int32()),
                ("playlist_last_updated", TS),
            ),
            person_columns=("author_id",),
            key="playlist_id",
        ),
        Table(
            "follows",
            _schema(
                ("follower_id", pa.int64()),
                ("following_id", pa.int64()),
                ("create_time", TS),
            ),
            person_columns=("follower_id", "following_id"),
        ),
        Table(
            "shops",
            _schema(
                ("shop_id", pa.int64()),
                ("shop_name", pa.string()),
                ("region_code", pa.string()),
                ("shop_rating", pa.float64()),
                ("shop_review_count", pa.int64()),
                ("item_sold_count", pa.int64()),
            ),
            key="shop_id",
        ),
        Table(
            "products",
            _schema(
                ("product_id", pa.int64()),
                ("shop_id", pa.int64()),
                ("product_name", pa.string()),
                ("product_description", pa.string()),
                ("product_price", pa.float64()),
                ("product_rating", pa.float64()),
                ("product_review_count", pa.int64()),
                ("product_sold_count", pa.int64()),
            ),
            key="product_id",
        ),
        Table(
            "product_reviews",
            _schema(
                ("id", pa.int64()),
                ("product_id", pa.int64()),
                ("reviewer_id", pa.int64()),
                ("review_text", pa.string()),
                ("review_rating", pa.int8()),
                ("review_like_count", pa.int64()),
                ("create_time", TS),
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
