"""Datasets: the embedded synthetic dataset and scanning of user folders.

Both end in a `DataSpec`: the train and validation file lists, their labels and
the class-to-index map that every pipeline variant is fed from. Nothing here
imports TensorFlow, so the spec can be built (and checked) in the parent process.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.data.checks import CheckReport, apply_policy, check_folders, convert_to_rgb8, drop_duplicates
from bench.errors import PipebenchError
from pipelines.files import built_atomically, cache_root
from pipelines.spec import DataSpec

# Pixel noise: at 20 (shapes-v2) the small CNN reached 0.78-0.91 after 12 epochs over 4 seeds
# and a 10%-label-noise pipeline overlapped it; at 8 (shapes-v3), 0.90-0.95 over 7 seeds, with
# that pipeline at 0.68-0.88 (README, "The accuracy band").
NOISE_STD = 8.0
LAYOUT_HINT = "give a folder with one subfolder of images per class"
EMBEDDED_SHAPES = (
    "circle", "square", "triangle", "cross", "ring",
    "hbars", "vbars", "diamond", "xshape", "dots",
)


@dataclass(frozen=True)
class EmbeddedDataset:
    """Parameters of the generated dataset; each set of values has its own cache folder."""

    num_train: int
    num_val: int
    image_size: int
    num_classes: int
    seed: int = 0

    def root(self) -> Path:
        key = f"{self.num_train}-{self.num_val}-{self.image_size}-{self.num_classes}-{self.seed}"
        return cache_root() / "datasets" / f"shapes-v3-{key}"


def ensure_embedded(params: EmbeddedDataset) -> Path:
    """Generate the embedded dataset once (deterministic in its seed) and return its root."""
    if not 2 <= params.num_classes <= len(EMBEDDED_SHAPES):
        raise PipebenchError(
            f"--num-classes {params.num_classes} is out of range; valid: 2..{len(EMBEDDED_SHAPES)}"
        )
    root = params.root()
    if (root / "COMPLETE").exists():
        return root
    with built_atomically(root) as tmp:
        write_embedded(params, tmp)
    return root


def write_embedded(params: EmbeddedDataset, tmp: Path) -> None:
    """Draw every image of the embedded dataset into `tmp` (train/ and val/, a folder per class)."""
    for split, count, offset in (("train", params.num_train, 0), ("val", params.num_val, 1)):
        for index in range(count):
            label = index % params.num_classes
            folder = tmp / split / EMBEDDED_SHAPES[label]
            folder.mkdir(parents=True, exist_ok=True)
            rng = np.random.default_rng([params.seed, offset, index])
            image = draw_shape(EMBEDDED_SHAPES[label], params.image_size, rng)
            image.save(folder / f"{split}_{index:06d}.jpg", quality=90)
    (tmp / "COMPLETE").write_text("ok\n")


def draw_shape(shape: str, size: int, rng: np.random.Generator):
    """One noisy image of `shape`: random colours, position, scale, a distractor and noise.

    The noise, the distractor and the random contrast polarity keep a small CNN short of
    100%, while the 16-epoch accuracy fit (`--accuracy-epochs`) takes it to about 0.94 with
    a spread of about 0.025 between shuffle orders: far enough above chance for a pipeline
    that changes the data to fall below the band, and still learning, where wrong labels
    show (a fit that converges hides them).
    """
    from PIL import Image, ImageDraw

    bg = rng.integers(0, 256, 3)
    fg = (bg + rng.integers(90, 166, 3)) % 256  # every channel differs from the background
    bg, fg = tuple(int(c) for c in bg), tuple(int(c) for c in fg)
    img = Image.new("RGB", (size, size), bg)
    draw = ImageDraw.Draw(img)
    r = size * rng.uniform(0.2, 0.34)
    cx, cy = rng.uniform(r, size - r, 2)
    dx, dy = rng.uniform(0, size, 2)
    draw.ellipse([dx - r / 3, dy - r / 3, dx + r / 3, dy + r / 3], fill=tuple(255 - c for c in fg))
    _draw_figure(draw, shape, cx, cy, r, fg, max(1, int(r / 4)))
    pixels = np.asarray(img, dtype=np.float32) + rng.normal(0, NOISE_STD, (size, size, 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def _draw_figure(draw, shape: str, cx: float, cy: float, r: float, fg, width: int) -> None:
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
    elif shape == "hbars":
        for k in (-1, 0, 1):
            draw.line([cx - r, cy + k * r / 1.5, cx + r, cy + k * r / 1.5], fill=fg, width=width)
    elif shape == "vbars":
        for k in (-1, 0, 1):
            draw.line([cx + k * r / 1.5, cy - r, cx + k * r / 1.5, cy + r], fill=fg, width=width)
    elif shape == "diamond":
        draw.polygon([(cx, cy - r), (cx + r, cy), (cx, cy + r), (cx - r, cy)], fill=fg)
    elif shape == "xshape":
        draw.line([cx - r, cy - r, cx + r, cy + r], fill=fg, width=width)
        draw.line([cx - r, cy + r, cx + r, cy - r], fill=fg, width=width)
    else:  # dots
        for ox, oy in ((-1, -1), (1, -1), (-1, 1), (1, 1)):
            px, py, pr = cx + ox * r / 2, cy + oy * r / 2, r / 4
            draw.ellipse([px - pr, py - pr, px + pr, py + pr], fill=fg)


def check_layout(folder: Path, what: str) -> Path:
    """`folder` itself, once it is known to exist and to hold class subfolders."""
    if not folder.exists():
        raise PipebenchError(f"{what} {str(folder)!r} does not exist; {LAYOUT_HINT}")
    if not folder.is_dir():
        raise PipebenchError(f"{what} {str(folder)!r} is not a folder; {LAYOUT_HINT}")
    if not any(p.is_dir() and not p.name.startswith(".") for p in folder.iterdir()):
        raise PipebenchError(
            f"{what} {str(folder)!r} has no class subfolders; expected {folder}/<class>/<image>.jpg"
        )
    return folder


def split_files(
    by_class: dict[str, list[str]], val_fraction: float, seed: int
) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Split each class's files into disjoint train and validation lists, deterministically."""
    if not 0.0 < val_fraction < 1.0:
        raise PipebenchError(f"--val-split {val_fraction} is out of range; valid: 0 < value < 1")
    train, val = {}, {}
    for index, (name, files) in enumerate(sorted(by_class.items())):
        order = np.random.default_rng([seed, index]).permutation(len(files))
        n_val = max(1, round(len(files) * val_fraction)) if len(files) > 1 else 0
        val[name] = sorted(files[i] for i in order[:n_val])
        train[name] = sorted(files[i] for i in order[n_val:])
    return train, val


def build_spec(
    train: dict[str, list[str]],
    val: dict[str, list[str]],
    image_size: int,
    source: str,
) -> DataSpec:
    """Assemble a DataSpec, with the class map taken from the train folder."""
    class_names = tuple(sorted(train))
    missing = sorted(set(val) - set(class_names))
    if missing:
        raise PipebenchError(
            f"validation classes {missing} are not in the training data; valid: {list(class_names)}"
        )
    index = {name: i for i, name in enumerate(class_names)}
    train_pairs = [(f, index[c]) for c in class_names for f in train[c]]
    val_pairs = [(f, index[c]) for c in sorted(val) for f in val[c]]
    if not val_pairs:
        raise PipebenchError(
            "the validation set is empty; give --val-dir or a --val-split that leaves images"
        )
    overlap = {f for f, _ in train_pairs} & {f for f, _ in val_pairs}
    if overlap:
        raise PipebenchError(f"{len(overlap)} files are in both train and validation, e.g. {min(overlap)}")
    train_dir = make_train_view(class_names, train)
    return DataSpec(
        class_names=class_names,
        train_files=tuple(f for f, _ in train_pairs),
        train_labels=tuple(label for _, label in train_pairs),
        val_files=tuple(f for f, _ in val_pairs),
        val_labels=tuple(label for _, label in val_pairs),
        image_size=(image_size, image_size),
        train_dir=str(train_dir),
        source=source,
    )


def make_train_view(class_names: tuple[str, ...], train: dict[str, list[str]]) -> Path:
    """A folder of symbolic links holding exactly the train files, one subfolder per class.

    Directory-based loaders (`image_dataset_from_directory`, `flow_from_directory`)
    would otherwise also pick up validation files or formats the spec left out.
    """
    digest = hashlib.sha256(json.dumps([class_names, train], sort_keys=True).encode()).hexdigest()
    view = cache_root() / "views" / digest[:16]
    if (view / "COMPLETE").exists():
        return view
    with built_atomically(view) as tmp:
        for name in class_names:
            (tmp / name).mkdir(parents=True, exist_ok=True)
            for i, path in enumerate(train[name]):
                (tmp / name / f"{i:06d}{Path(path).suffix.lower()}").symlink_to(path)
        (tmp / "COMPLETE").write_text("ok\n")
    return view


def data_folders(data_dir: Path | None, val_dir: Path | None, embedded: EmbeddedDataset) -> dict:
    """The folders to check and read: `train`, and `val` unless it is split off `train`."""
    if data_dir is None:
        root = ensure_embedded(embedded)
        return {"train": root / "train", "val": root / "val"}
    folders = {"train": check_layout(Path(data_dir), "--data-dir")}
    if val_dir is not None:
        folders["val"] = check_layout(Path(val_dir), "--val-dir")
    return folders


def resolve_spec(
    data_dir: Path | None,
    val_dir: Path | None,
    val_split: float,
    embedded: EmbeddedDataset,
    seed: int,
    on_bad_file: str = "stop",
) -> tuple[DataSpec, CheckReport]:
    """The DataSpec for a run and the data check behind it.

    Bad files stop the run (`on_bad_file="stop"`) or are left out of the spec
    (`"skip"`); files that need converting are replaced by their converted copy,
    so every variant reads the same pixels.
    """
    folders = data_folders(data_dir, val_dir, embedded)
    source = str(Path(data_dir).absolute()) if data_dir else f"embedded:{folders['train'].parent.name}"
    report = check_folders(folders, embedded.image_size)
    train = report.usable["train"]
    if "val" in folders:
        val = report.usable["val"]
    else:
        train, val = split_files(train, val_split, seed)
    val = drop_duplicates(report, train, val)
    apply_policy(report, on_bad_file, source)
    if not train:
        raise PipebenchError(f"no usable training images in {source}; see `pipebench check`")
    val = {name: files for name, files in val.items() if name in train}
    converted = {p: convert_to_rgb8(p, cache_root() / "converted") for p in sorted(report.to_convert)}
    train, val = ({name: [converted.get(p, p) for p in files] for name, files in split.items()}
                  for split in (train, val))
    return build_spec(train, val, embedded.image_size, source=source), report
