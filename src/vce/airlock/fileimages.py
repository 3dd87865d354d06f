"""Figure exports: decode a PNG with Pillow and re-encode it from its pixels alone.

A file export is what a researcher's own code wrote, so the bytes themselves are the channel to
close: a valid 1x1 PNG followed by a megabyte of Parquet decodes as a tiny image, and PNG
ancillary chunks (text, ICC profile, private chunks) carry any bytes at all. So the airlock
stores and releases only a PNG it wrote itself from the decoded pixels (no metadata but the
resolution), and refuses a file with anything after its image data (bytes after ``IEND``) or
more than one frame (APNG), so that what the reviewer looks at is all the file holds.

What re-encoding cannot remove is data packed into the pixels themselves; the pixel cap bounds
that channel and a warning points reviewers at images with very many distinct colours (charts
have few), which is what packed bytes look like.
"""

from __future__ import annotations

import io
import warnings
from typing import Any

from PIL import Image, PngImagePlugin

from vce.airlock.errors import Invalid

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
IEND_CHUNK = b"\x00\x00\x00\x00IEND\xaeB`\x82"  # length 0, type, CRC: the same in every PNG
# 16 megapixels: a 10 x 8 inch figure at 300 dpi is 7.2; four times Pillow's own bomb guard
# would admit 180 (its default MAX_IMAGE_PIXELS is 89 million, an error only at twice that).
MAX_PIXELS = 16_000_000
# A matplotlib chart with anti-aliasing has a few thousand colours; random bytes packed into
# pixels make nearly every pixel a colour of its own.
MANY_COLOURS = 65_536
KEPT_MODES = ("L", "LA", "RGB", "RGBA")


def _refuse(message: str) -> Invalid:
    return Invalid(message, code="invalid_file")


def _check_structure(content: bytes) -> None:
    """Walk the chunks up to ``IEND`` (checking CRCs) and refuse anything after it."""
    if not content.startswith(PNG_SIGNATURE):
        raise _refuse("content is not a PNG file; save the figure as PNG")
    buf = io.BytesIO(content)
    try:
        with Image.open(buf, formats=["PNG"]) as im:
            frames = getattr(im, "n_frames", 1)
            im.verify()  # reads every chunk up to IEND and checks their CRCs
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _refuse(f"{exc}: save the figure at a lower resolution") from None
    except Exception as exc:  # Pillow raises SyntaxError, OSError, ValueError ...
        raise _refuse(f"the PNG file is damaged ({exc}); save the figure again") from None
    if frames != 1:
        raise _refuse(
            f"the PNG file has {frames} frames (an animation); export a single still image"
        )
    # verify() stops right after IEND's length and type: only its CRC may follow.
    end = buf.tell() + 4
    if end != len(content) or not content.endswith(IEND_CHUNK):
        extra = len(content) - end
        raise _refuse(
            f"the PNG file has {extra} byte(s) after the end of its image data; "
            "save the figure again with matplotlib or Pillow and export only that file"
        )


def reencode_png(content: bytes, *, max_pixels: int = MAX_PIXELS) -> tuple[bytes, list[str]]:
    """Return a PNG written from ``content``'s decoded pixels, and warnings for reviewers.

    Raises :class:`~vce.airlock.errors.Invalid` (with the fix) for a file that is not exactly
    one PNG image of at most ``max_pixels`` pixels.

    >>> src = io.BytesIO(); Image.new("RGB", (4, 3), "red").save(src, "PNG")
    >>> out, notes = reencode_png(src.getvalue())
    >>> Image.open(io.BytesIO(out)).size, notes
    ((4, 3), [])
    >>> reencode_png(src.getvalue() + b"PAR1")
    Traceback (most recent call last):
    ...
    vce.airlock.errors.Invalid: the PNG file has 4 byte(s) after the end of its image data; \
save the figure again with matplotlib or Pillow and export only that file
    """
    with warnings.catch_warnings():
        # Pillow's decompression-bomb guard only warns below twice its limit: an error here.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        _check_structure(content)
        clean, dpi = _decode(content, max_pixels)
    out = io.BytesIO()
    options: dict[str, object] = {}
    if _plausible_dpi(dpi):
        options["dpi"] = (round(dpi[0]), round(dpi[1]))
    clean.save(out, "PNG", pnginfo=PngImagePlugin.PngInfo(), **options)
    notes = []
    if clean.getcolors(MANY_COLOURS) is None:
        notes.append(
            f"the image has more than {MANY_COLOURS} distinct colours; charts have few: "
            "check that it is a figure and not data packed into pixels"
        )
    return out.getvalue(), notes


def _decode(content: bytes, max_pixels: int) -> tuple[Image.Image, Any]:
    """The pixels as a new image (nothing of the source's info travels on) and its dpi."""
    try:
        with Image.open(io.BytesIO(content), formats=["PNG"]) as im:
            width, height = im.size
            if width * height > max_pixels:
                raise _refuse(
                    f"the image is {width} x {height} pixels; the limit is {max_pixels} "
                    "pixels: save it at a lower resolution"
                )
            im.load()
            dpi = im.info.get("dpi")
            pixels = im if im.mode in KEPT_MODES else im.convert("RGBA")
            return Image.frombytes(pixels.mode, pixels.size, pixels.tobytes()), dpi
    except Invalid:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _refuse(f"{exc}: save the figure at a lower resolution") from None
    except Exception as exc:
        raise _refuse(f"the PNG image could not be decoded ({exc}); save it again") from None


def _plausible_dpi(dpi: object) -> bool:
    """Keep the resolution (papers need it) only as two ordinary numbers."""
    return (
        isinstance(dpi, tuple)
        and len(dpi) == 2
        and all(isinstance(d, int | float) and 1 <= d <= 10_000 for d in dpi)
    )
