"""The embedded dataset's images: procedural photographs of a class's figure in a cluttered scene.

Real image datasets are full-size photographs that every pipeline decodes and resizes on
every epoch, and the cost of a JPEG decode grows with its pixels and with its entropy-coded
bytes. So the images here are drawn at photo sizes (a long side of 256-512 px, aspects from
3:4 to 16:9) with the ingredients of natural-image statistics:

* a "dead leaves" background: hundreds of occluding ellipses and rectangles whose sizes
  follow a density of r^-3, the classic model whose spectrum falls as 1/f and which has
  sharp edges at every scale;
* shading at three scales (1/16, 1/4 and 1/2 of the image) and sensor grain, so that
  surfaces carry texture rather than flat colour;
* a slight blur (lens and demosaicing), then the class's figure on top: large, with a
  colour of its own, as a photograph's subject is.

Saved as baseline JPEGs at quality 90 with 4:2:0 chroma subsampling (what cameras and
ImageNet use), the default sizes give a median of about 45 KB (docs/data.md, "The embedded
dataset", has the measured figures and the decode cost against real photographs).

Nothing is downloaded: each image is a function of (seed, split, index) alone, so the
same parameters give the same bytes on every machine with the same NumPy and Pillow.
"""

from __future__ import annotations

import numpy as np

SHAPES = (
    "circle", "square", "triangle", "cross", "ring",
    "hbars", "vbars", "diamond", "xshape", "dots",
)
ASPECTS = (3 / 4, 1.0, 4 / 3, 3 / 2, 16 / 9)  # width / height
PHOTO_LONG_SIDE = (256, 512)  # the default long side's range, px (ImageNet: ~400 x 350 on average)
JPEG_QUALITY = 90
LEAVES = 700
PALETTE_SPREAD = 20  # levels: the scene's colours lie within this of its base colour
LEAF_RADIUS = (0.008, 0.15)  # smallest and largest leaf, as fractions of the short side
BACKGROUND_BLUR = (1.5, 3.0)  # px: the subject in focus, the clutter behind it less so
FIGURE_RADIUS = (0.3, 0.42)  # fraction of the short side
GRAIN = 6  # sensor grain, +/- levels
SHADING = ((16, 14.0), (4, 8.0), (2, 6.0))  # (divisor of the size, amplitude in levels)


def photo_size(rng: np.random.Generator, long_side: tuple[int, int]) -> tuple[int, int]:
    """(width, height): a long side drawn from `long_side` (inclusive) and one of `ASPECTS`."""
    long = int(rng.integers(long_side[0], long_side[1] + 1))
    aspect = ASPECTS[int(rng.integers(len(ASPECTS)))]
    return (long, round(long / aspect)) if aspect >= 1 else (round(long * aspect), long)


def draw_photo(shape: str, rng: np.random.Generator, long_side: tuple[int, int] = PHOTO_LONG_SIDE):
    """One image of `shape` in a cluttered, textured scene (a PIL RGB image of photo size)."""
    from PIL import Image, ImageDraw, ImageFilter

    width, height = photo_size(rng, long_side)
    base = rng.integers(0, 256, 3)
    img = dead_leaves(width, height, base, rng)
    img = img.filter(ImageFilter.GaussianBlur(float(rng.uniform(*BACKGROUND_BLUR))))
    short = min(width, height)
    r = short * rng.uniform(*FIGURE_RADIUS)
    cx, cy = rng.uniform(r, width - r), rng.uniform(r, height - r)
    fg = tuple(int(c) for c in (base + rng.integers(90, 166, 3)) % 256)  # every channel far from the scene's
    draw_figure(ImageDraw.Draw(img), shape, cx, cy, r, fg, max(3, int(r / 3)))  # strokes survive a 12x shrink
    pixels = np.asarray(img, np.float32) + shading(width, height, rng)[..., None]
    pixels += rng.integers(-GRAIN, GRAIN + 1, (height, width, 3), dtype=np.int16)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def dead_leaves(width: int, height: int, base: np.ndarray, rng: np.random.Generator):
    """Occluding ellipses and rectangles, the largest first, sizes from a density of r^-3, in
    colours around the scene's `base` colour (a scene has a palette; the subject stands out)."""
    from PIL import Image, ImageDraw

    short = min(width, height)
    palette = np.clip(base + rng.integers(-PALETTE_SPREAD, PALETTE_SPREAD + 1, (5, 3)), 0, 255)
    img = Image.new("RGB", (width, height), tuple(int(c) for c in palette[0]))
    draw = ImageDraw.Draw(img)
    u = rng.random(LEAVES)
    r_min, r_max = LEAF_RADIUS[0] * short, LEAF_RADIUS[1] * short
    radii = np.sort(1.0 / np.sqrt(u / r_min**2 + (1 - u) / r_max**2))[::-1]  # inverse CDF of r^-3
    xs, ys = rng.uniform(0, width, LEAVES), rng.uniform(0, height, LEAVES)
    colours = np.clip(palette[rng.integers(0, 5, LEAVES)] + rng.integers(-12, 13, (LEAVES, 3)), 0, 255)
    kinds, elongation = rng.random(LEAVES), rng.uniform(0.5, 1.5, LEAVES)
    for r, x, y, colour, kind, e in zip(radii, xs, ys, colours, kinds, elongation, strict=True):
        box = [x - r, y - r * e, x + r, y + r * e]
        fill = tuple(int(c) for c in colour)
        (draw.ellipse if kind < 0.6 else draw.rectangle)(box, fill=fill)
    return img


def shading(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """Smooth random light and texture at three scales: float32 (height, width) in levels."""
    from PIL import Image

    out = np.zeros((height, width), np.float32)
    for divisor, amplitude in SHADING:
        grid = rng.standard_normal((max(2, height // divisor), max(2, width // divisor))).astype(np.float32)
        out += amplitude * np.asarray(Image.fromarray(grid, "F").resize((width, height), Image.BICUBIC))
    return out


def draw_figure(draw, shape: str, cx: float, cy: float, r: float, fg, width: int) -> None:
    """The class's figure, centred at (cx, cy) with radius r."""
    box = [cx - r, cy - r, cx + r, cy + r]
    if shape == "circle":
        draw.ellipse(box, fill=fg)
    elif shape == "square":
        draw.rectangle(box, fill=fg)
    elif shape == "triangle":
        draw.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=fg)
    elif shape == "cross":
        draw.line([cx - r, cy, cx + r, cy], fill=fg, width=width)
        draw.line([cx, cy - r, cx, cy + r], fill=fg, width=width)
    elif shape == "ring":
        draw.ellipse(box, outline=fg, width=width)
    elif shape in ("hbars", "vbars"):
        for k in (-1, 0, 1):
            o = k * r / 1.5
            line = [cx - r, cy + o, cx + r, cy + o] if shape == "hbars" else [cx + o, cy - r, cx + o, cy + r]
            draw.line(line, fill=fg, width=width)
    elif shape == "diamond":
        draw.polygon([(cx, cy - r), (cx + r, cy), (cx, cy + r), (cx - r, cy)], fill=fg)
    elif shape == "xshape":
        draw.line([cx - r, cy - r, cx + r, cy + r], fill=fg, width=width)
        draw.line([cx - r, cy + r, cx + r, cy - r], fill=fg, width=width)
    else:  # dots
        for ox, oy in ((-1, -1), (1, -1), (-1, 1), (1, 1)):
            px, py, pr = cx + ox * r / 2, cy + oy * r / 2, r / 3.5
            draw.ellipse([px - pr, py - pr, px + pr, py + pr], fill=fg)


def encode(image) -> bytes:
    """The file's bytes: a baseline JPEG at `JPEG_QUALITY`, 4:2:0 chroma (Pillow's default)."""
    import io

    out = io.BytesIO()
    image.save(out, format="JPEG", quality=JPEG_QUALITY)
    return out.getvalue()
