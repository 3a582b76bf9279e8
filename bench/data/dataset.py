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

from bench.data.checks import (
    CheckReport,
    apply_policy,
    check_listing,
    convert_to_rgb8,
    drop_duplicates,
    list_folders,
)
from bench.data.photos import PHOTO_LONG_SIDE, SHAPES, draw_photo, encode
from bench.errors import PipebenchError
from pipelines.files import built_atomically, cache_root
from pipelines.spec import DataSpec

LAYOUT_HINT = "give a folder with one subfolder of images per class"
EMBEDDED_VERSION = "photos-v1"


@dataclass(frozen=True)
class EmbeddedDataset:
    """Parameters of the generated dataset; each set of values has its own cache folder.

    `image_size` is what the variants resize to, not the files' size: the files are
    photo-sized (`long_side`, a range in px; `bench.data.photos`), so every variant
    decodes and resizes on every epoch. Small `long_side`s keep the test data cheap.
    """

    num_train: int
    num_val: int
    image_size: int
    num_classes: int
    seed: int = 0
    long_side: tuple[int, int] = PHOTO_LONG_SIDE

    def root(self) -> Path:
        low, high = self.long_side
        key = f"{self.num_train}-{self.num_val}-{self.num_classes}-{self.seed}-{low}x{high}"
        return cache_root() / "datasets" / f"{EMBEDDED_VERSION}-{key}"

    @classmethod
    def of(cls, raw: dict) -> EmbeddedDataset:
        """From results.json (`long_side` is a list there; runs before photos-v1 have none)."""
        return cls(**{**raw, "long_side": tuple(raw.get("long_side", PHOTO_LONG_SIDE))})


def ensure_embedded(params: EmbeddedDataset) -> Path:
    """Generate the embedded dataset once (deterministic in its seed) and return its root."""
    if not 2 <= params.num_classes <= len(SHAPES):
        raise PipebenchError(
            f"--num-classes {params.num_classes} is out of range; valid: 2..{len(SHAPES)}"
        )
    root = params.root()
    if (root / "COMPLETE").exists():
        return root
    with built_atomically(root) as tmp:
        write_embedded(params, tmp)
    return root


def embedded_files(params: EmbeddedDataset) -> list[tuple[str, int, int]]:
    """Every file of the dataset as (split, index, label): labels take turns through the classes."""
    return [(split, index, index % params.num_classes)
            for split, count in (("train", params.num_train), ("val", params.num_val))
            for index in range(count)]


def draw_file(params: EmbeddedDataset, split: str, index: int, label: int) -> bytes:
    """The bytes of one file: a function of (seed, split, index) alone."""
    rng = np.random.default_rng([params.seed, 0 if split == "train" else 1, index])
    return encode(draw_photo(SHAPES[label], rng, params.long_side))


def write_embedded(params: EmbeddedDataset, tmp: Path, workers: int | None = None) -> None:
    """Draw every image into `tmp` (train/ and val/, a folder per class), a process per core."""
    import os

    from bench.data.check_cache import process_pool

    files = embedded_files(params)
    for split, _, label in files:
        (tmp / split / SHAPES[label]).mkdir(parents=True, exist_ok=True)
    workers = workers or os.cpu_count() or 1
    chunk = max(1, len(files) // (8 * workers))
    with process_pool(workers) as pool:
        for (split, index, label), data in zip(files, pool.map(
                _draw, [(params, *f) for f in files], chunksize=chunk), strict=True):
            (tmp / split / SHAPES[label] / f"{split}_{index:06d}.jpg").write_bytes(data)
    (tmp / "COMPLETE").write_text("ok\n")


def _draw(args) -> bytes:
    return draw_file(*args)


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
    subset: int | None = None,
) -> tuple[DataSpec, CheckReport]:
    """The DataSpec for a run and the data check behind it.

    The folders are listed first (no file opened), the validation files split off when
    there is no validation folder, then `subset` training files drawn (`take_subset`),
    and only the files chosen are checked. Bad files stop the run (`on_bad_file="stop"`)
    or are left out of the spec (`"skip"`); files that need converting are replaced by
    their converted copy, so every variant reads the same pixels.
    """
    folders = data_folders(data_dir, val_dir, embedded)
    source = str(Path(data_dir).absolute()) if data_dir else f"embedded:{folders['train'].parent.name}"
    listing, walked = list_folders(folders)
    if "val" not in folders:
        listing["train"], listing["val"] = split_files(listing["train"], val_split, seed)
    chosen = take_subset(listing, subset, seed, source) if subset is not None else None
    report = check_listing(listing, walked, embedded.image_size, folders)
    report.subset = chosen
    train, val = report.usable["train"], report.usable["val"]
    val = drop_duplicates(report, train, val)
    apply_policy(report, on_bad_file, source)
    if not train:
        raise PipebenchError(f"no usable training images in {source}; see `pipebench check`")
    val = {name: files for name, files in val.items() if name in train}
    converted = {p: convert_to_rgb8(p, cache_root() / "converted") for p in sorted(report.to_convert)}
    train, val = ({name: [converted.get(p, p) for p in files] for name, files in split.items()}
                  for split in (train, val))
    return build_spec(train, val, embedded.image_size, source=source), report


def stratified_counts(sizes: dict[str, int], n: int) -> dict[str, int]:
    """How many of each class a sample of `n` takes: proportional, rounded by largest remainder."""
    total = sum(sizes.values())
    exact = {name: n * size / total for name, size in sizes.items()}
    counts = {name: int(value) for name, value in exact.items()}
    by_remainder = sorted(sizes, key=lambda name: (-(exact[name] - counts[name]), name))
    for name in by_remainder[: n - sum(counts.values())]:
        counts[name] += 1
    return counts


def sample_classes(by_class: dict[str, list[str]], n: int, seed: int) -> dict[str, list[str]]:
    """A seeded, stratified sample of `n` files (each class sorted); deterministic in `seed`."""
    counts = stratified_counts({name: len(files) for name, files in by_class.items()}, n)
    picked = {}
    for index, (name, files) in enumerate(sorted(by_class.items())):
        order = np.random.default_rng([seed, index, 1]).permutation(len(files))[: counts[name]]
        picked[name] = sorted(files[i] for i in order)
    return picked


def take_subset(listing: dict, n: int, seed: int, source: str) -> dict:
    """Keep `n` training files, stratified by class, and the same share of each validation class.

    Changes `listing` in place and returns what results.json records. A benchmark needs
    minutes of data, not all of it: drawn before the check, so only the subset is checked.
    """
    train_total = sum(len(f) for f in listing["train"].values())
    val_total = sum(len(f) for f in listing["val"].values())
    if not 1 <= n <= train_total:
        raise PipebenchError(f"--subset {n} is larger than the {train_total} training files in {source}; "
                             f"valid: 1..{train_total}")
    listing["train"] = sample_classes(listing["train"], n, seed)
    share = n / train_total
    kept_val = max(1, round(val_total * share))
    listing["val"] = sample_classes(listing["val"], kept_val, seed) if val_total else {}
    return {"train_files": n, "seed": seed, "train_files_in_folder": train_total,
            "val_files": sum(len(f) for f in listing["val"].values()), "val_files_in_folder": val_total}
