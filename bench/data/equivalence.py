"""Does a cell deliver the data the reference decoder gives? Faster but wrong is caught here.

A pipeline that resizes with nearest-neighbour, delivers BGR or [0, 255], or maps
folders to the wrong class indices changes the experiment, not only the speed. Every
cell's worker reads a sample of the batches its pipeline delivers (untimed, after
set-up) and this module matches each delivered image to its source file by content:
the nearest neighbour among 8x8 thumbnails of the reference decode of every train
file (pipelines shuffle, so order says nothing). Against the matched file it measures:

* the share of images matched (an image whose best match is still far away is not);
* label agreement with the class map;
* pixel error on the [0, 1] scale: mean absolute error and its 99th percentile;
* value range and dtype (a range beyond 1.5 is read as [0, 255] and rescaled before
  matching, so the other checks still say what else differs);
* swapped channels: the error falls sharply when the channels are reversed;
* exactly once per epoch (seed 004's claim for a `Sequence`): how many deliveries repeated
  a file already delivered, and how many files were never delivered (when the whole epoch
  was read). Less than a batch of either is the epoch's edge (a dropped last batch, or one
  filled from the next pass); a batch or more is flagged. A PyDataset is read through
  Keras' `fit`, with its workers and processes, since that is where they run;
* interpolation, where images needed resizing: the error falls sharply against a
  nearest-neighbour reference.

The thresholds were calibrated on the built-in variants, which are known to be
equivalent (docs/method.md, "Data equivalence"). A cell beyond them gets the note
`data differs from reference` with its reasons, and is never recommended. Cells that
augment randomly cannot be compared image by image; they are checked on labels
(their set), range, dtype and shape only, and say so.

`check` is NumPy only; `Reference` decodes the train files with the reference decoder
(`pipelines.decode`), thumbnails of all of them and full images of those matched.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

THUMB = 8  # thumbnails of THUMB x THUMB x 3 for the nearest-neighbour match
MAX_IMAGES = 1024  # delivered images checked at most (one epoch on small datasets)
SAME = "same as reference"
DIFFERS = "data differs from reference"
SHAPE_ONLY = "augmented: checked on labels, range, dtype and shape only"
NOT_CHECKED = "not checked"


@dataclass(frozen=True)
class Thresholds:
    """Where a built-in variant's delivery ends and a different experiment begins (docs/method.md)."""

    match_mae: float = 0.08  # an image's MAE to its best match above this: not matched
    matched_share: float = 0.99
    label_agreement: float = 0.99
    mae: float = 0.01  # mean absolute error of the matched images, [0, 1] scale
    p99: float = 0.1  # 99th percentile of the absolute pixel error
    value_high: float = 1.0 + 1e-3  # values above: not the [0, 1] scale
    value_low: float = -1e-3
    swap_gain: float = 2.0  # reversed channels this many times closer: swapped
    nearest_gain: float = 1.5  # a nearest-neighbour reference this many times closer: nearest


@dataclass(frozen=True)
class Equivalence:
    """What one cell delivered, measured against the reference decode of the same files."""

    verdict: str
    reasons: tuple[str, ...]
    images_checked: int
    dtype: str
    shape: tuple[int, ...]
    value_min: float
    value_max: float
    matched_share: float | None = None
    label_agreement: float | None = None
    mae: float | None = None
    p99_abs_error: float | None = None
    channels_swapped: bool | None = None
    interpolation: str | None = None  # "nearest" where that reference fits far better; else None
    extra_deliveries: int | None = None  # deliveries of a file already delivered this epoch
    files_missing: int | None = None  # train files never delivered (None: the epoch was not read whole)
    resize: str | None = None  # the accepted resize the delivery is closer to; None: none needed
    augmented: bool = False
    thresholds: dict = field(default_factory=lambda: asdict(Thresholds()))

    @classmethod
    def not_checked(cls, why: str) -> Equivalence:
        """The record of a cell whose delivery could not be read for the check (its error)."""
        return cls(NOT_CHECKED, (why,), 0, "none", (), 0.0, 0.0)

    @property
    def differs(self) -> bool:
        return self.verdict == DIFFERS

    def to_dict(self) -> dict:
        record = asdict(self)
        record["reasons"] = list(self.reasons)
        record["shape"] = list(self.shape)
        return record

    @classmethod
    def from_dict(cls, raw: dict) -> Equivalence:
        return cls(**{**raw, "reasons": tuple(raw["reasons"]), "shape": tuple(raw["shape"])})

    @property
    def validation_resize(self) -> str:
        """How to resize the validation files for this cell's model: as its pipeline resizes."""
        return self.resize if self.resize in ACCEPTED_RESIZES else "bilinear"


def collect(batches: Iterable, limit: int = MAX_IMAGES) -> tuple[np.ndarray, np.ndarray, str]:
    """Up to `limit` delivered images (as float64 arrays) and labels, and the images' dtype."""
    images, labels, dtype = [], [], "none"
    seen = 0
    for x, y in batches:
        x, y = np.asarray(x), np.asarray(y)
        dtype = str(x.dtype)
        images.append(x[: limit - seen])
        labels.append(y.reshape(len(y), -1)[: limit - seen])
        seen += len(images[-1])
        if seen >= limit:
            break
    if not images:
        return np.zeros((0, 1, 1, 3)), np.zeros((0,), np.int64), dtype
    y = np.concatenate(labels)
    y = y.argmax(axis=1) if y.shape[1] > 1 else y[:, 0]  # one-hot labels: their class index
    return np.concatenate(images).astype(np.float32), y.astype(np.int64), dtype


def thumbnails(images: np.ndarray, side: int = THUMB) -> np.ndarray:
    """Block means to side x side x channels, flattened: a cheap content key per image."""
    n, height, width, channels = images.shape
    rows = np.array_split(np.arange(height), side)
    cols = np.array_split(np.arange(width), side)
    out = np.empty((n, side, side, channels))
    for i, r in enumerate(rows):
        band = images[:, r].mean(axis=1)
        for j, c in enumerate(cols):
            out[:, i, j] = band[:, c].mean(axis=1)
    return out.reshape(n, -1)


def nearest(queries: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Index of each query's nearest key (squared L2)."""
    distance = (queries**2).sum(1)[:, None] + (keys**2).sum(1)[None, :] - 2.0 * queries @ keys.T
    return distance.argmin(axis=1)


def per_image_mae(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a - b).reshape(len(a), -1).mean(axis=1)


def basics(images: np.ndarray, dtype: str) -> dict:
    return {"images_checked": int(len(images)), "dtype": dtype,
            "shape": tuple(int(s) for s in images.shape[1:]),
            "value_min": float(images.min()) if len(images) else 0.0,
            "value_max": float(images.max()) if len(images) else 0.0}


def range_reasons(found: dict, limits: Thresholds) -> list[str]:
    reasons = []
    if found["dtype"] != "float32":
        reasons.append(f"dtype {found['dtype']} (the reference delivers float32)")
    if found["value_max"] > limits.value_high or found["value_min"] < limits.value_low:
        low, high = found["value_min"], found["value_max"]
        reasons.append(f"values in [{low:.3g}, {high:.3g}] (the reference: [0, 1])")
    return reasons


def check_augmented(images: np.ndarray, labels: np.ndarray, dtype: str, num_classes: int,
                    limits: Thresholds = Thresholds()) -> Equivalence:
    """Labels, range, dtype and shape only: random augmentation makes pixels incomparable."""
    found = basics(images, dtype)
    reasons = range_reasons(found, limits)
    outside = int(((labels < 0) | (labels >= num_classes)).sum())
    if outside:
        reasons.append(f"{outside} label(s) outside 0..{num_classes - 1}")
    verdict = DIFFERS if reasons else SHAPE_ONLY
    return Equivalence(verdict, tuple(reasons), **found, augmented=True)


def once_per_epoch(match: np.ndarray, files: int, whole_epoch: bool,
                   batch_size: int) -> tuple[int, int | None, str | None]:
    """Deliveries that repeated a file, files never delivered (None unless `whole_epoch`), and why
    that is flagged: a batch or more of either (less is the epoch's edge)."""
    counts = np.bincount(match, minlength=files)
    extra = int((counts[counts > 1] - 1).sum())
    missing = int((counts == 0).sum()) if whole_epoch else None
    if extra < batch_size and (missing or 0) < batch_size:
        return extra, missing, None
    lost = f" and {missing} of {files} files never" if missing else ""
    return extra, missing, (f"not exactly once per epoch: {extra} deliveries repeated a file{lost}, "
                            f"matched by content (a batch is {batch_size})")


def check(images: np.ndarray, labels: np.ndarray, dtype: str, reference_thumbs: np.ndarray,
          reference_labels: np.ndarray, load_reference: Callable[[Sequence[int], str], np.ndarray],
          resized: bool, limits: Thresholds = Thresholds(), whole_epoch: bool = False,
          batch_size: int = 1) -> Equivalence:
    """Match every delivered image to a train file and measure what differs.

    `reference_thumbs` are the thumbnails of every train file's reference decode;
    `load_reference(indices, method)` returns those files (repeats allowed, in order)
    decoded with the reference decoder ("bilinear"), or resized "bilinear_antialias" or
    "nearest", as an (N, H, W, 3) array; `resized` says whether the files needed
    resizing at all (else interpolation cannot show); `whole_epoch`: the images are one
    whole epoch, so files never delivered can be counted (`once_per_epoch`).
    """
    found = basics(images, dtype)
    reasons = range_reasons(found, limits)
    if not len(images):
        return Equivalence(DIFFERS, ("no images delivered",), **found)
    scaled = images / 255.0 if found["value_max"] > 1.5 else images  # match [0, 255] data too
    scaled, swap_note = put_channels_back(scaled, reference_thumbs, load_reference, limits)
    match = nearest(thumbnails(scaled), reference_thumbs)
    resize, matched_ref = closest_resize(scaled, match, load_reference, resized)
    mae = per_image_mae(scaled, matched_ref)
    ok = mae <= limits.match_mae
    resize_note = nearest_resize(scaled[ok], match[ok], mae[ok], load_reference, limits) \
        if resized and ok.any() else None
    extra, missing, once_note = once_per_epoch(match[ok], len(reference_thumbs), whole_epoch, batch_size)
    reasons += [note for note in (swap_note, resize_note, once_note) if note]
    share = float(ok.mean())
    agreement = float((labels[ok] == reference_labels[match[ok]]).mean()) if ok.any() else None
    errors = np.abs(scaled[ok] - matched_ref[ok]) if ok.any() else np.zeros(1)
    mean_error, p99 = float(errors.mean()), float(np.percentile(errors, 99))
    if share < limits.matched_share:
        reasons.append(f"{share:.1%} of images matched a train file (threshold {limits.matched_share:.0%})")
    if agreement is not None and agreement < limits.label_agreement:
        reasons.append(f"labels agree with the class map on {agreement:.1%} of matched images")
    if not resize_note and (mean_error > limits.mae or p99 > limits.p99):
        reasons.append(f"pixel error MAE {mean_error:.4f}, 99th percentile {p99:.3f} "
                       f"(thresholds {limits.mae}, {limits.p99})")
    return Equivalence(DIFFERS if reasons else SAME, tuple(reasons), **found, matched_share=share,
                       label_agreement=agreement, mae=mean_error, p99_abs_error=p99,
                       channels_swapped=swap_note is not None,
                       interpolation="nearest" if resize_note else None, resize=resize if resized else None,
                       extra_deliveries=extra, files_missing=missing)


ACCEPTED_RESIZES = ("bilinear", "bilinear_antialias")  # TensorFlow's reference; PIL's bilinear antialiases


def closest_resize(scaled: np.ndarray, match: np.ndarray, load_reference,
                   resized: bool) -> tuple[str, np.ndarray]:
    """Whichever accepted resize is closer to the delivery (median MAE), and the matched files under it.

    Shrinking, PIL's bilinear filter antialiases and TensorFlow's reference does not; both
    are bilinear resizing, so a delivery is held to the nearer of the two (and the worker
    validates the cell's model on validation files resized the same way).
    """
    methods = ACCEPTED_RESIZES if resized else ACCEPTED_RESIZES[:1]
    candidates = [(method, load_reference(match.tolist(), method)) for method in methods]
    return min(candidates, key=lambda pair: float(np.median(per_image_mae(scaled, pair[1]))))


def put_channels_back(scaled: np.ndarray, reference_thumbs: np.ndarray, load_reference,
                      limits: Thresholds) -> tuple[np.ndarray, str | None]:
    """The images with channels reversed, and why, when that brings them far closer to their files."""
    errors = {}
    for name, candidate in (("as delivered", scaled), ("reversed", scaled[..., ::-1])):
        match = nearest(thumbnails(candidate), reference_thumbs)
        errors[name] = float(np.median(per_image_mae(candidate, load_reference(match.tolist(), "bilinear"))))
    if errors["reversed"] * limits.swap_gain >= errors["as delivered"]:
        return scaled, None
    why = (f"channels swapped (BGR): median MAE {errors['as delivered']:.4f} as delivered, "
           f"{errors['reversed']:.4f} with the channels reversed")
    return scaled[..., ::-1], why


def nearest_resize(scaled: np.ndarray, match: np.ndarray, mae: np.ndarray, load_reference,
                   limits: Thresholds) -> str | None:
    """Why the images look resized with nearest-neighbour rather than bilinearly, or None."""
    near = float(np.median(per_image_mae(scaled, load_reference(match.tolist(), "nearest"))))
    bilinear = float(np.median(mae))
    if near * limits.nearest_gain >= bilinear:
        return None
    return (f"nearest-neighbour resize: median MAE {near:.4f} to a nearest reference, "
            f"{bilinear:.4f} to the closer bilinear one")


class Reference:
    """The train files' reference decodes: thumbnails of every file, full images on demand."""

    def __init__(self, spec, chunk: int = 256):
        from pipelines.decode import decode_all

        self.files, self.size = list(spec.train_files), spec.image_size
        self.labels = np.asarray(spec.train_labels, np.int64)
        self.cache: dict[tuple[int, str], np.ndarray] = {}
        self.thumbs = np.concatenate([thumbnails(decode_all(self.files[i:i + chunk], self.size))
                                      for i in range(0, len(self.files), chunk)])
        self.resized = needs_resizing(self.files[:64], self.size)

    def load(self, indices: Sequence[int], method: str) -> np.ndarray:
        """The files at `indices` (repeats allowed), decoded with `method`'s resize."""
        from pipelines.decode import decode_all

        missing = sorted({i for i in indices if (i, method) not in self.cache})
        if missing:
            decoded = decode_all([self.files[i] for i in missing], self.size, method=method)
            self.cache.update({(i, method): image for i, image in zip(missing, decoded, strict=True)})
        return np.stack([self.cache[(i, method)] for i in indices])


def needs_resizing(paths: Sequence[str], size: Sequence[int]) -> bool:
    """Whether any of these files is not already `size` (else no resize can show in the pixels)."""
    from PIL import Image

    height, width = size
    for path in paths:
        with Image.open(path) as image:
            if image.size != (width, height):
                return True
    return False


def check_delivery(batches: Iterable, spec, augmented: bool, limits: Thresholds = Thresholds(),
                   batch_size: int = 1) -> Equivalence:
    """The check of one cell's delivered batches (one epoch) against its spec's train files."""
    images, labels, dtype = collect(batches)
    if augmented:
        return check_augmented(images, labels, dtype, spec.num_classes, limits)
    reference = Reference(spec)
    return check(images, labels, dtype, reference.thumbs, reference.labels, reference.load,
                 reference.resized, limits, whole_epoch=len(spec.train_files) <= MAX_IMAGES,
                 batch_size=batch_size)
