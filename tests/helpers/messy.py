"""A messy image folder with one file (or folder) for every problem the data check knows.

`EXPECTED` maps each planted path (relative to the root) to the kind the check
must report for it; the good images around them keep the folder runnable once
the bad ones are left out.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
from PIL import Image

SIZE = 32  # every planted image has the target size, so decoders need not resize

EXPECTED = {
    "train/cat/garbage.jpg": "undecodable",
    "train/cat/notes.jpg": "undecodable",
    "train/cat/truncated.jpg": "truncated",
    "train/cat/empty.jpg": "zero_byte",
    "train/cat/tiny.png": "too_small",
    "train/cat/loop.jpg": "link_loop",
    "train/cat/again": "link_loop",
    "train/cat/locked.jpg": "unreadable",
    "train/dog/gray.jpg": "grayscale",
    "train/dog/alpha.png": "rgba",
    "train/dog/palette.png": "palette",
    "train/dog/cmyk.jpg": "cmyk",
    "train/dog/deep.png": "16bit",
    "train/dog/png_named.jpg": "extension_mismatch",
    "train/dog/bitmap.png": "other_format",
    "train/dog/.DS_Store": "hidden",
    "train/dog/readme.txt": "not_image",
    "train/empty_class": "empty_class",
    "val/cat/copy_of_train.jpg": "train_val_duplicate",
}


def pixels(seed: int, size: int = SIZE) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


def encoded(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def good_images(folder: Path, prefix: str, count: int, seed: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"{prefix}_{i:02d}.jpg"
        Image.fromarray(pixels(seed + i)).save(path, quality=90)
        paths.append(path)
    return paths


def build(root: Path) -> Path:
    """Plant every case under `root` (train/ and val/); return `root`."""
    cats = good_images(root / "train" / "cat", "good", 12, 0)
    good_images(root / "train" / "dog", "good", 12, 100)
    good_images(root / "val" / "cat", "val", 4, 200)
    good_images(root / "val" / "dog", "val", 4, 300)
    planted = planted_bytes(cats[0])
    for rel, data in planted.items():
        (root / rel).write_bytes(data)
    (root / "train" / "cat" / "loop.jpg").symlink_to("loop.jpg")
    (root / "train" / "cat" / "again").symlink_to(root / "train" / "cat", target_is_directory=True)
    locked = root / "train" / "cat" / "locked.jpg"
    Image.fromarray(pixels(7)).save(locked)
    locked.chmod(0)
    (root / "train" / "empty_class").mkdir()
    (root / "train" / "empty_class" / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    return root


def planted_bytes(a_train_jpeg: Path) -> dict[str, bytes]:
    good = a_train_jpeg.read_bytes()
    rgb = Image.fromarray(pixels(50))
    cmyk = encoded(rgb.convert("CMYK"), "JPEG", quality=95)
    deep = Image.fromarray(pixels(51)[..., 0].astype(np.uint16) * 257)  # mode I;16
    return {
        "train/cat/garbage.jpg": os.urandom(600),
        "train/cat/notes.jpg": b"these are my notes, not a picture\n",
        "train/cat/truncated.jpg": good[: len(good) // 2],
        "train/cat/empty.jpg": b"",
        "train/cat/tiny.png": encoded(Image.fromarray(pixels(52, 4)), "PNG"),
        "train/dog/gray.jpg": encoded(rgb.convert("L"), "JPEG", quality=95),
        "train/dog/alpha.png": encoded(rgb.convert("RGBA"), "PNG"),
        "train/dog/palette.png": encoded(rgb.convert("P"), "PNG"),
        "train/dog/cmyk.jpg": cmyk,
        "train/dog/deep.png": encoded(deep, "PNG"),
        "train/dog/png_named.jpg": encoded(rgb, "PNG"),
        "train/dog/bitmap.png": encoded(rgb, "BMP"),
        "train/dog/.DS_Store": b"\0\0\0\1Bud1",
        "train/dog/readme.txt": b"collected 2026\n",
        "val/cat/copy_of_train.jpg": good,
    }
