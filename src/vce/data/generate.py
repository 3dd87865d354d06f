"""``vce datasets generate``: deterministic, platform-shaped synthetic datasets.

Shapes that matter to research (and to disclosure control) are built in: heavy-tailed views
and followers, Zipf-popular hashtags and music, EU regions dominant, a 12-month window with
weekly rhythm, about a quarter of accounts under 18, threaded comments, minors and adults
commenting on each other's videos, multilingual text with the keywords researchers search.

Work is chunked and vectorised (NumPy + Arrow) so 10M videos with all related tables stream
through a bounded amount of memory. Every chunk has its own random stream derived from
(seed, table, chunk), so the result depends on the seed alone.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vce.data import distributions as dist
from vce.data.ids import make_ids
from vce.data.layout import DatasetError, PartitionedWriter, atomic_dataset_dir, check_output
from vce.data.manifest import build_manifest
from vce.data.schema import AGE_BANDS, TABLES, arrow_type
from vce.data.synthetic import SynthState, write_synthetic
from vce.data.text import (
    LANGUAGES,
    REGION_LANGUAGE,
    STEM_TOPICS,
    TOPIC_CDF,
    TOPICS,
    build_pool,
    hashtag_text,
    join_space,
)
from vce.policy.model import Policy, load_policy
from vce.policy.stored_statistics import write_statistics

MIN_VIDEOS = 100
MAX_VIDEOS = 500_000_000
VIDEO_CHUNK = 500_000
# Disk check: all tables take about 230 bytes per video on disk (10M videos: 2.15 GiB);
# 420 leaves room for imported text longer than the generator's.
BYTES_PER_VIDEO = 420

_TABLE_NO = {name: i for i, name in enumerate(TABLES)}

Progress = Callable[[str, int], None]
"""Called as ``progress(table, rows_written)``."""


@dataclass(frozen=True)
class Sizes:
    """Row counts of every table, derived from the number of videos."""

    videos: int
    users: int
    hashtags: int
    music: int
    playlists: int
    follows: int
    shops: int
    products: int
    product_reviews: int

    @classmethod
    def from_videos(cls, videos: int) -> Sizes:
        """Users ≈ videos/10, comments ≈ 3×videos (drawn per video), follows ≈ 5×users, …

        >>> Sizes.from_videos(20_000).users
        2000
        """
        users = max(videos // 10, 60)
        shops = max(users // 100, 12)
        return cls(
            videos=videos,
            users=users,
            hashtags=int(np.clip(videos // 50, 300, 200_000)),
            music=int(np.clip(videos // 20, 100, 500_000)),
            playlists=max(users // 5, 10),
            follows=users * 5,
            shops=shops,
            products=shops * 20,
            product_reviews=max(videos // 5, 50),
        )

    def expected_rows(self) -> dict[str, int]:
        """Approximate rows per table (comments are drawn, ≈ 3 per video)."""
        rows = {k: v for k, v in self.__dict__.items() if k in TABLES}
        rows["comments"] = 3 * self.videos
        return rows


def _rng(seed: int, table: str, chunk: int = 0, stream: int = 0) -> np.random.Generator:
    return np.random.default_rng([seed, _TABLE_NO[table], chunk, stream])


_REGION_LANG = np.array(
    [LANGUAGES.index(REGION_LANGUAGE.get(r, "en")) for r in dist.REGIONS], dtype=np.int64
)
TS = arrow_type("TIMESTAMP")
_REGION_CDF = np.cumsum(dist.REGION_WEIGHTS)
_AGE_CDF = np.cumsum(dist.AGE_WEIGHTS)
_STEM = np.array([t in STEM_TOPICS for t in TOPICS])

_GENERIC_TAGS = ["fyp", "foryou", "viral", "foryoupage", "trending", "duet", "stitch", "funny",
                 "love", "tiktokmademebuyit", "learnontiktok", "booktok", "pov", "grwm",
                 "ootd"]  # fmt: skip
_TOPIC_TAGS = {
    "elections": ["election", "elections2026", "wahl", "vote", "élections", "elecciones",
                  "elezioni", "wybory", "politics", "democracy"],
    "climate": ["climate", "climatechange", "klimawandel", "climat", "clima", "klimat",
                "fridaysforfuture", "sustainability", "heatwave"],
    "health": ["health", "mentalhealth", "gesundheit", "santé", "salud", "salute", "vaccine",
               "fitness", "wellbeing"],
    "sports": ["football", "fussball", "soccer", "gym", "running", "sport", "goal"],
    "music": ["music", "dance", "newmusic", "cover", "singing", "dancechallenge"],
    "food": ["food", "recipe", "foodtok", "rezept", "recette", "receta", "cooking"],
    "education": ["studytok", "education", "math", "physics", "exam", "lernen", "school"],
    "gaming": ["gaming", "gamer", "minecraft", "fortnite", "esports"],
    "fashion": ["fashion", "outfit", "thrift", "style", "mode"],
    "travel": ["travel", "reise", "voyage", "viaje", "viaggio", "traveltok"],
    "science": ["science", "scienceexperiment", "space", "stem", "chemistry"],
    "comedy": ["comedy", "meme", "humor", "relatable", "skit"],
}  # fmt: skip
_HANDLES = ["lena", "max", "sofia", "luca", "emma", "noah", "mia", "leo", "julia", "hugo",
            "anna", "marco", "zoe", "ines", "jan", "ola", "eva", "tom", "lea", "nico", "sara",
            "ali", "maja", "finn", "clara", "diego", "elif", "kuba", "ruby", "theo"]  # fmt: skip
_SUFFIXES = ["", "", " ✨", " 🌿", " | creator", " 🇪🇺", " (official)", " 🎧"]
_SHOP_WORDS = ["Nordic", "Urban", "Bella", "Green", "Happy", "Smart", "Velvet", "Sunny",
               "Pixel", "Cozy", "Lumen", "Terra"]  # fmt: skip
_SHOP_NOUNS = ["Threads", "Kitchen", "Beauty", "Gadgets", "Home", "Sports", "Books", "Pets"]
_PRODUCT_ADJ = ["organic", "wireless", "vegan", "mini", "deluxe", "classic", "smart", "eco"]
_PRODUCT_NOUN = ["face serum", "earbuds", "phone case", "yoga mat", "hoodie", "water bottle",
                 "lip gloss", "desk lamp", "sneakers", "protein bar"]  # fmt: skip


def _hashtag_names(n: int) -> tuple[pa.Array, dict[int, np.ndarray]]:
    """Hashtag names by popularity rank, and the ranks belonging to each topic."""
    names: list[str] = list(_GENERIC_TAGS)
    topic_ranks: dict[int, np.ndarray] = {}
    for ti, topic in enumerate(TOPICS):
        start = len(names)
        names.extend(_TOPIC_TAGS[topic])
        topic_ranks[ti] = np.arange(start, len(names))
    seen = set(names)
    words = sorted({t for tags in _TOPIC_TAGS.values() for t in tags} | set(_HANDLES))
    i = 0
    while len(names) < n:
        cand = f"{words[i % len(words)]}{words[(i // len(words)) % len(words)]}{i // 997 or ''}"
        if cand not in seen:
            seen.add(cand)
            names.append(cand)
        i += 1
    return pa.array(names[:n]), topic_ranks


def _lists(offsets_counts: np.ndarray, values: pa.Array) -> pa.ListArray:
    offsets = np.concatenate([[0], np.cumsum(offsets_counts)]).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), values)


class _Generator:
    """Holds the population (users) and streams every table through a writer."""

    def __init__(self, sizes: Sizes, seed: int, writer: PartitionedWriter, policy: Policy,
                 progress: Progress) -> None:  # fmt: skip
        self.sizes = sizes
        self.seed = seed
        self.writer = writer
        self.policy = policy
        self.progress = progress
        self.pool = build_pool()
        self.comment_pool = build_pool(with_opener=False)
        self.synth = SynthState(
            people_tables=frozenset(t for t, spec in TABLES.items() if spec.about_people)
        )

    # ------------------------------------------------------------------ helpers
    def _emit(self, table: str, data: pa.Table, minor: np.ndarray | None, chunk: int) -> None:
        """Write a chunk into its audience partitions (synthetic stand-ins come after all)."""
        if minor is None:
            self.writer.write(table, data)
        else:
            mask = pa.array(minor)
            self.writer.write(table, data.filter(pc.invert(mask)), "adult")
            self.writer.write(table, data.filter(mask), "minor")
        self.progress(table, data.num_rows)

    # ------------------------------------------------------------------ tables
    def users(self) -> None:
        n = self.sizes.users
        rng = _rng(self.seed, "users")
        idx = np.arange(n)
        self.user_ids = make_ids("users", idx)
        age = dist.choice_cdf(rng, _AGE_CDF, n)
        self.minor = age < 2
        self.region = dist.choice_cdf(rng, _REGION_CDF, n)
        self.topic = dist.choice_cdf(rng, TOPIC_CDF, n)
        self.z = rng.standard_normal(n)  # latent popularity
        followers = np.floor(np.exp(np.log(150) + 2.2 * self.z)).astype(np.int64)
        activity = np.exp(1.0 * self.z + 0.8 * rng.standard_normal(n))
        self.author_sampler = dist.Sampler(activity)
        self.commenter_sampler = dist.Sampler(
            np.exp(0.6 * rng.standard_normal(n)) * (1 + 0.4 * self.minor)
        )
        self.follow_sampler = dist.Sampler(followers + 1.0)
        self.authors = self.author_sampler.draw(_rng(self.seed, "videos", stream=2),
                                       self.sizes.videos).astype(np.int32)  # fmt: skip
        handles = pa.array(_HANDLES).take(pa.array(rng.integers(0, len(_HANDLES), n)))
        self.usernames = pc.binary_join_element_wise(
            handles, pc.cast(pa.array(idx), pa.string()), "_"
        )
        lang = _REGION_LANG[self.region]
        display = pc.binary_join_element_wise(
            pc.utf8_capitalize(handles),
            pa.array(_SUFFIXES).take(pa.array(rng.integers(0, len(_SUFFIXES), n))),
            "",
        )
        bio = self.pool.draw(rng, lang, self.topic)
        bio = pc.if_else(pa.array(rng.random(n) < 0.35), "", bio)
        data = pa.table(
            {
                "user_id": self.user_ids,
                "username": self.usernames,
                "display_name": display,
                "bio_description": bio,
                "region_code": pa.array(dist.REGIONS[self.region]),
                "age_band": pa.array(np.array(AGE_BANDS)[age]),
                "is_verified": rng.random(n) < np.clip(0.002 + followers / 2e6, 0, 0.9),
                "follower_count": followers,
                "following_count": dist.heavy_counts(rng, n, 120, 1.0),
                "likes_count": np.floor(followers * np.exp(rng.normal(1.5, 0.8, n))).astype(
                    np.int64
                ),
                "video_count": np.bincount(self.authors, minlength=n).astype(np.int64),
                "create_time": pa.array(dist.before_window(rng, n), TS),
            }
        )
        self._emit("users", data, self.minor, 0)

    def playlists(self) -> None:
        n = self.sizes.playlists
        rng = _rng(self.seed, "playlists")
        author = self.author_sampler.draw(rng, n)
        first = np.full(self.sizes.users, -1, np.int64)
        first[author[::-1]] = np.arange(n)[::-1]
        self.first_playlist = first
        data = pa.table(
            {
                "playlist_id": make_ids("playlists", np.arange(n)),
                "playlist_name": self.comment_pool.draw(
                    rng, _REGION_LANG[self.region[author]], self.topic[author]
                ),
                "author_id": self.user_ids[author],
                "playlist_item_total": (1 + rng.poisson(8, n)).astype(np.int32),
                "playlist_last_updated": pa.array(dist.timestamps(rng, n), TS),
            }
        )
        self._emit("playlists", data, self.minor[author], 0)

    def hashtags(self) -> None:
        rng = _rng(self.seed, "hashtags")
        self.tag_names, self.topic_tags = _hashtag_names(self.sizes.hashtags)
        n = len(self.tag_names)
        self.tag_sampler = dist.Sampler(dist.zipf_weights(n, 1.05))
        data = pa.table(
            {
                "id": make_ids("hashtags", np.arange(n)),
                "name": self.tag_names,
                "description": self.pool.draw(
                    rng, rng.integers(0, len(LANGUAGES), n), dist.choice_cdf(rng, TOPIC_CDF, n)
                ),
            }
        )
        self._emit("hashtags", data, None, 0)

    def videos_and_comments(self) -> None:
        music = dist.Sampler(dist.zipf_weights(self.sizes.music, 1.2))
        effects = pa.array([f"eff_{i}" for i in range(2000)])
        effect_sampler = dist.Sampler(dist.zipf_weights(2000, 1.3))
        comment_offset = 0
        for chunk, start in enumerate(range(0, self.sizes.videos, VIDEO_CHUNK)):
            end = min(start + VIDEO_CHUNK, self.sizes.videos)
            rng = _rng(self.seed, "videos", chunk)
            n = end - start
            a = self.authors[start:end].astype(np.int64)
            region = np.where(rng.random(n) < 0.93, self.region[a],
                              dist.choice_cdf(rng, _REGION_CDF, n))  # fmt: skip
            topic = np.where(rng.random(n) < 0.6, self.topic[a], dist.choice_cdf(rng, TOPIC_CDF, n))
            lang = np.where(rng.random(n) < 0.85, _REGION_LANG[region], 0)
            # hashtags: one from the video's topic most of the time, the rest Zipf-popular
            k = np.clip(rng.poisson(2.2, n), 0, 8)
            tags = self.tag_sampler.draw(rng, int(k.sum()))
            first_pos = np.concatenate([[0], np.cumsum(k)[:-1]])[k > 0]
            topical = rng.random(len(first_pos)) < 0.7
            t_of = topic[k > 0][topical]
            tags[first_pos[topical]] = _topic_tag_vec(rng, self.topic_tags, t_of)
            hashtag_names = _lists(k, self.tag_names.take(pa.array(tags)))
            ke = rng.binomial(2, 0.2, n)
            effect_ids = _lists(ke, effects.take(pa.array(effect_sampler.draw(rng, int(ke.sum())))))
            pl = self.first_playlist[a]
            has_pl = (pl >= 0) & (rng.random(n) < 0.4)
            playlist = pa.array(make_ids("playlists", np.maximum(pl, 0)), mask=~has_pl)
            views = np.floor(np.exp(np.log(400) + 2.0 * rng.standard_normal(n) + 0.5 * self.z[a]))
            views = views.astype(np.int64)
            likes = np.floor(views * rng.beta(2, 18, n)).astype(np.int64)
            lam = np.sqrt(views + 1.0)
            n_comments = np.minimum(rng.poisson(3.0 * lam / lam.mean()), 20_000)
            created = dist.timestamps(rng, n)
            stem = rng.random(n) < np.where(_STEM[topic], 0.12, 0.005)
            duration = np.clip(
                rng.lognormal(np.log(28), 0.8, n) * np.where(_STEM[topic], 2, 1), 3, 600
            )
            speech = self.pool.draw(rng, lang, topic)
            video_ids = make_ids("videos", np.arange(start, end))
            data = pa.table(
                {
                    "id": video_ids,
                    "author_id": self.user_ids[a],
                    "username": self.usernames.take(pa.array(a)),
                    "create_time": pa.array(created, TS),
                    "region_code": pa.array(dist.REGIONS[region]),
                    "video_description": join_space(
                        self.pool.draw(rng, lang, topic), hashtag_text(hashtag_names)
                    ),
                    "music_id": make_ids("music", music.draw(rng, n)),
                    "hashtag_names": hashtag_names,
                    "effect_ids": effect_ids,
                    "playlist_id": playlist,
                    "voice_to_text": pc.if_else(
                        pa.array(rng.random(n) < 0.55), speech, pa.scalar(None, pa.string())
                    ),
                    "is_stem_verified": stem,
                    "video_duration": duration.astype(np.int32),
                    "view_count": views,
                    "like_count": likes,
                    "comment_count": n_comments.astype(np.int64),
                    "share_count": np.floor(likes * rng.beta(1, 12, n)).astype(np.int64),
                    "favorites_count": np.floor(likes * rng.beta(1.2, 8, n)).astype(np.int64),
                }
            )
            self._emit("videos", data, self.minor[a], chunk)
            self._comments(chunk, comment_offset, video_ids, n_comments, created, topic, lang)
            comment_offset += int(n_comments.sum())

    def _comments(
        self,
        chunk: int,
        offset: int,
        video_ids: np.ndarray,
        counts: np.ndarray,
        video_time: np.ndarray,
        video_topic: np.ndarray,
        video_lang: np.ndarray,
    ) -> None:
        rng = _rng(self.seed, "comments", chunk)
        m = int(counts.sum())
        vid = np.repeat(np.arange(len(counts)), counts)
        ids = make_ids("comments", offset + np.arange(m))
        author = self.commenter_sampler.draw(rng, m)
        block = np.repeat(np.cumsum(counts) - counts, counts)
        pos = np.arange(m)
        reply = (pos > block) & (rng.random(m) < 0.35)
        parent = np.where(
            reply, block + np.floor(rng.random(m) * (pos - block)).astype(np.int64), -1
        )
        for _ in range(64):  # replies attach to top-level comments, as on the platform
            up = np.where(parent >= 0, parent[np.maximum(parent, 0)], -1)
            nested = (parent >= 0) & (up >= 0)
            if not nested.any():
                break
            parent = np.where(nested, up, parent)
        is_reply = parent >= 0
        created = video_time[vid] + rng.exponential(2 * 86_400e6, m).astype(np.int64)
        delay = rng.exponential(6 * 3600e6, m).astype(np.int64)  # replies come hours later
        created = np.where(is_reply, created[np.maximum(parent, 0)] + delay, created)
        lang = np.where(rng.random(m) < 0.8, _REGION_LANG[self.region[author]], video_lang[vid])
        topic = np.where(rng.random(m) < 0.7, video_topic[vid], dist.choice_cdf(rng, TOPIC_CDF, m))
        data = pa.table(
            {
                "id": ids,
                "video_id": video_ids[vid],
                "author_id": self.user_ids[author],
                "text": self.comment_pool.draw(rng, lang, topic),
                "like_count": dist.heavy_counts(rng, m, 1.5, 1.8),
                "reply_count": np.bincount(parent[is_reply], minlength=m).astype(np.int64),
                "parent_comment_id": pa.array(ids[np.maximum(parent, 0)], mask=~is_reply),
                "create_time": pa.array(dist.clamp_to_window(created), TS),
            }
        )
        self._emit("comments", data, self.minor[author], chunk)

    def follows(self) -> None:
        rng = _rng(self.seed, "follows")
        n, u = self.sizes.follows, self.sizes.users
        follower = self.author_sampler.draw(rng, n)
        following = self.follow_sampler.draw(rng, n)
        keys = np.unique(follower.astype(np.int64) * u + following)
        follower, following = keys // u, keys % u
        keep = follower != following
        follower, following = follower[keep], following[keep]
        created = dist.timestamps(rng, len(follower))
        step = 2_000_000
        for chunk, s in enumerate(range(0, len(follower), step)):
            fr, fg = follower[s : s + step], following[s : s + step]
            data = pa.table(
                {
                    "follower_id": self.user_ids[fr],
                    "following_id": self.user_ids[fg],
                    "create_time": pa.array(created[s : s + step], TS),
                }
            )
            self._emit("follows", data, self.minor[fr] | self.minor[fg], chunk)

    def shops_and_products(self) -> None:
        rng = _rng(self.seed, "shops")
        s = self.sizes.shops
        words = pa.array([f"{w} {o}" for w in _SHOP_WORDS for o in _SHOP_NOUNS])
        names = pc.binary_join_element_wise(
            words.take(pa.array(np.arange(s) % len(words))),
            pc.cast(pa.array(np.arange(s) // len(words) + 1), pa.string()), " ",
        )  # fmt: skip
        self.shop_ids = make_ids("shops", np.arange(s))
        self._emit("shops", pa.table({
            "shop_id": self.shop_ids,
            "shop_name": names,
            "region_code": pa.array(dist.REGIONS[dist.choice_cdf(rng, _REGION_CDF, s)]),
            "shop_rating": np.round(3 + 2 * rng.beta(5, 2, s), 1),
            "shop_review_count": dist.heavy_counts(rng, s, 200, 1.5),
            "item_sold_count": dist.heavy_counts(rng, s, 2000, 1.8),
        }), None, 0)  # fmt: skip
        rng = _rng(self.seed, "products")
        p = self.sizes.products
        shop = np.repeat(np.arange(s), p // s)
        sold = dist.heavy_counts(rng, p, 50, 2.0)
        self.product_sampler = dist.Sampler(sold + 1.0)
        self.product_ids = make_ids("products", np.arange(p))
        pname = pc.binary_join_element_wise(
            pa.array(_PRODUCT_ADJ).take(pa.array(rng.integers(0, len(_PRODUCT_ADJ), p))),
            pa.array(_PRODUCT_NOUN).take(pa.array(rng.integers(0, len(_PRODUCT_NOUN), p))), " ",
        )  # fmt: skip
        self._emit("products", pa.table({
            "product_id": self.product_ids,
            "shop_id": self.shop_ids[shop],
            "product_name": pname,
            "product_description": self.pool.draw(
                rng, rng.integers(0, len(LANGUAGES), p), dist.choice_cdf(rng, TOPIC_CDF, p)),
            "product_price": np.round(np.exp(rng.normal(np.log(20), 0.9, p)), 2),
            "product_rating": np.round(3 + 2 * rng.beta(6, 2, p), 1),
            "product_review_count": dist.heavy_counts(rng, p, 30, 1.6),
            "product_sold_count": sold,
        }), None, 0)  # fmt: skip
        self.synth.catalogues["products"] = pa.array(self.product_ids)

    def product_reviews(self) -> None:
        n = self.sizes.product_reviews
        step = 1_000_000
        rating_cdf = np.cumsum([5, 4, 8, 23, 60])
        for chunk, s in enumerate(range(0, n, step)):
            rng = _rng(self.seed, "product_reviews", chunk)
            m = min(step, n - s)
            reviewer = self.commenter_sampler.draw(rng, m)
            rating = dist.choice_cdf(rng, rating_cdf, m) + 1
            data = pa.table({
                "id": make_ids("product_reviews", np.arange(s, s + m)),
                "product_id": self.product_ids[self.product_sampler.draw(rng, m)],
                "reviewer_id": self.user_ids[reviewer],
                "review_text": self.comment_pool.draw(
                    rng, _REGION_LANG[self.region[reviewer]], dist.choice_cdf(rng, TOPIC_CDF, m)),
                "review_rating": rating.astype(np.int8),
                "review_like_count": dist.heavy_counts(rng, m, 1, 1.5),
                "create_time": pa.array(dist.timestamps(rng, m), TS),
            })  # fmt: skip
            self._emit("product_reviews", data, self.minor[reviewer], chunk)

    def run(self) -> None:
        self.users()
        self.hashtags()
        self.playlists()
        self.shops_and_products()
        self.videos_and_comments()
        self.follows()
        self.product_reviews()
        # people tables in reference order: users, then what points at them
        order = ["users", "playlists", "videos", "comments", "follows", "product_reviews"]
        assert set(order) == self.synth.people_tables
        write_synthetic(self.writer.root, self.writer, self.policy, order, self.synth,
                        [self.seed, len(TABLES)])  # fmt: skip


def _topic_tag_vec(rng: np.random.Generator, topic_tags: dict[int, np.ndarray],
                   topics: np.ndarray) -> np.ndarray:  # fmt: skip
    """Vectorised "a random tag of each row's topic"."""
    out = np.empty(len(topics), np.int64)
    for t, ranks in topic_tags.items():
        sel = topics == t
        out[sel] = ranks[rng.integers(0, len(ranks), int(sel.sum()))]
    return out


def check_sizes(videos: int, out: Path) -> None:
    """Reject negative, tiny, absurd or disk-filling sizes before any work starts."""
    if videos < MIN_VIDEOS:
        raise DatasetError(f"--videos must be at least {MIN_VIDEOS} (got {videos})")
    if videos > MAX_VIDEOS:
        raise DatasetError(f"--videos must be at most {MAX_VIDEOS:,} (got {videos:,})")
    need = videos * BYTES_PER_VIDEO * 1.2
    probe = out.resolve()
    while not probe.exists():
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if need > free:
        raise DatasetError(
            f"--videos {videos:,} needs about {need / 2**30:.1f} GiB but {probe} has "
            f"{free / 2**30:.1f} GiB free; choose fewer videos or another --out"
        )


def validate_request(out: Path, videos: int, seed: int, force: bool) -> None:
    """Everything that can be wrong with a request, checked before any work starts."""
    check_sizes(videos, Path(out))
    if seed < 0:
        raise DatasetError(f"--seed must be a non-negative integer (got {seed})")
    check_output(Path(out).resolve(), force)


def generate(
    out: Path,
    videos: int,
    seed: int,
    *,
    force: bool = False,
    name: str | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Generate a dataset of ``videos`` videos and all related tables into ``out``.

    Builds in a temporary sibling and renames at the end; returns the manifest.
    """
    out = Path(out)
    validate_request(out, videos, seed, force)
    sizes = Sizes.from_videos(videos)
    policy = load_policy()
    with atomic_dataset_dir(out, force) as tmp:
        with PartitionedWriter(tmp, {t: spec.schema for t, spec in TABLES.items()}) as writer:
            _Generator(sizes, seed, writer, policy, progress or (lambda t, n: None)).run()
        manifest = build_manifest(
            tmp,
            name=name or out.name,
            version="1.0.0",
            files=writer.files,
            source={"generator": "vce datasets generate", "seed": seed, "videos": videos},
            note=f"generated: {videos:,} videos, seed {seed}",
        )
        write_statistics(tmp, policy)  # the trusted side's bounds: not on a first query
        return manifest
