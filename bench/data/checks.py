"""Data checks: find what in an image folder would break a run or make variants disagree.

`check_folders` walks the class folders (following links, with loop detection),
opens every file with PIL (no TensorFlow here, so it runs in the parent process)
and sorts what it finds into three severities:

* `bad`: unusable or misleading files (undecodable, truncated, zero-byte,
  unreadable, link loops, images far smaller than the target, the same image in
  train and validation, empty class folders). A run stops on them unless
  `--on-bad-file skip`, which leaves them out for every variant alike.
* `converted`: decodable, but decoders disagree on them or some loaders reject
  them (grayscale, RGBA, palette, CMYK, 16-bit, a PNG named .jpg, BMP/GIF/TIFF/
  WebP). Each is converted once, by one function, to an 8-bit RGB PNG in the
  cache, and every variant reads that copy, so all see identical pixels.
* `ignored`: never read by any variant (hidden files, non-image files).
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from bench.errors import PipebenchError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
ON_BAD_FILE = ("stop", "skip")
TOO_SMALL_FRACTION = 0.25  # a side under a quarter of the target size is "much smaller"
CONVERTER_VERSION = "rgb8-v1"
CHECK_VERSION = "check-v2"  # of what an inspection finds: bump it when that changes (the cache's key)
NOT_KEPT = frozenset({"unreadable"})  # depends on who reads, not on the file: never cached

KINDS = {  # kind -> (severity, what it means)
    "undecodable": ("bad", "not a decodable image"),
    "truncated": ("bad", "image data ends early"),
    "zero_byte": ("bad", "empty file"),
    "unreadable": ("bad", "cannot be opened for reading"),
    "link_loop": ("bad", "symbolic link that loops"),
    "too_small": ("bad", "much smaller than the target size"),
    "train_val_duplicate": ("bad", "same content in train and validation"),
    "empty_class": ("bad", "class folder without usable images"),
    "grayscale": ("converted", "one channel, replicated to RGB"),
    "rgba": ("converted", "alpha channel dropped"),
    "palette": ("converted", "palette expanded to RGB"),
    "cmyk": ("converted", "CMYK converted to RGB"),
    "16bit": ("converted", "16 bits per channel scaled to 8"),
    "extension_mismatch": ("converted", "content does not match the extension"),
    "other_format": ("converted", "a format other than JPEG/PNG"),
    "hidden": ("ignored", "hidden file"),
    "not_image": ("ignored", "not an image file"),
}
SEVERITIES = ("bad", "converted", "ignored")
FORMAT_SUFFIXES = {"JPEG": (".jpg", ".jpeg"), "PNG": (".png",)}


@dataclass(frozen=True)
class Finding:
    kind: str
    path: str
    detail: str = ""

    @property
    def severity(self) -> str:
        return KINDS[self.kind][0]

    def line(self) -> str:
        return f"{self.kind}: {self.path}" + (f" ({self.detail})" if self.detail else "")


@dataclass(frozen=True)
class Inspected:
    """One candidate file after opening it: its findings and, if usable, its content hash."""

    path: str
    findings: tuple[Finding, ...]
    sha256: str | None = None
    size: tuple[int, int] | None = None  # (width, height) of a decodable image

    def for_target(self, min_side: int) -> Inspected:
        """This file's findings for a run whose images must be at least `min_side` on a side."""
        if self.size is None or min(self.size) >= min_side:
            return self
        width, height = self.size
        small = Finding("too_small", self.path, f"{width}x{height}, under {min_side} px on a side")
        return replace(self, findings=(*self.findings, small))

    def to_record(self) -> list:
        size = list(self.size) if self.size else None
        return [[[f.kind, f.detail] for f in self.findings], self.sha256, size]

    @classmethod
    def of(cls, path: str, record: list) -> Inspected:
        findings, sha256, size = record
        found = tuple(Finding(kind, path, detail) for kind, detail in findings)
        return cls(path, found, sha256, tuple(size) if size else None)

    @property
    def usable(self) -> bool:
        return self.sha256 is not None and not any(f.severity == "bad" for f in self.findings)

    @property
    def needs_conversion(self) -> bool:
        return any(f.severity == "converted" for f in self.findings)


@dataclass
class CheckReport:
    """Everything a check found, and the files (by split and class) a run may use."""

    findings: list[Finding] = field(default_factory=list)
    usable: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    to_convert: set[str] = field(default_factory=set)
    sha256: dict[str, str] = field(default_factory=dict)
    subset: dict | None = None  # what `--subset` kept (bench.data.dataset.take_subset), or None

    def by_severity(self, severity: str) -> list[Finding]:
        return [f for f in self.findings if f.severity == severity]

    def counts(self) -> dict[str, int]:
        return dict(sorted(Counter(f.kind for f in self.findings).items()))

    def summary_lines(self, limit: int = 20) -> list[str]:
        """Per severity, the counts by kind, then up to `limit` paths of each kind."""
        if not self.findings:
            return ["data check: no problems found"]
        lines = []
        for severity in SEVERITIES:
            found = self.by_severity(severity)
            if not found:
                continue
            kinds = Counter(f.kind for f in found)
            lines.append(f"data check: {len(found)} {severity}: "
                         + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())))
            for kind in sorted(kinds):
                of_kind = [f for f in found if f.kind == kind]
                lines += [f"  {f.line()}" for f in of_kind[:limit]]
                if len(of_kind) > limit:
                    lines.append(f"  ... and {len(of_kind) - limit} more {kind}")
        return lines

    def record(self, policy: str) -> dict:
        """What results.json keeps: the policy, counts and the files left out or converted."""
        return {
            "policy": policy,
            "counts": self.counts(),
            "left_out": sorted({f.path for f in self.by_severity("bad")}),
            "converted": sorted(self.to_convert),
            "ignored": len(self.by_severity("ignored")),
            "subset": self.subset,
        }


def walk_files(folder: Path) -> Iterator[tuple[str, Finding | None]]:
    """Every entry under `folder` (absolute paths), following directory links but never twice
    into one directory; one `scandir` per directory, so a million files list in seconds."""
    seen: set[tuple[int, int]] = set()
    stack = [os.path.abspath(folder)]
    while stack:
        current = stack.pop()
        try:
            info = os.stat(current)
        except OSError as exc:
            yield current, loop_or_unreadable(Path(current), exc)
            continue
        if (info.st_dev, info.st_ino) in seen:
            yield current, Finding("link_loop", current, "directory reached twice through a link")
            continue
        seen.add((info.st_dev, info.st_ino))
        try:
            with os.scandir(current) as scan:
                entries = sorted(scan, key=lambda e: e.name, reverse=True)
        except OSError as exc:
            yield current, loop_or_unreadable(Path(current), exc)
            continue
        for entry in entries:
            if entry.name.startswith("."):
                yield entry.path, Finding("hidden", entry.path)
            elif is_dir(entry):
                stack.append(entry.path)
            else:
                yield entry.path, None


def is_dir(entry: os.DirEntry) -> bool:
    """A directory, or a link to one (a link that loops is a file here: opening it says so)."""
    try:
        return entry.is_dir()
    except OSError:
        return False


def loop_or_unreadable(path: Path, exc: OSError) -> Finding:
    if exc.errno == errno.ELOOP:
        return Finding("link_loop", str(path.absolute()), "symbolic link that loops")
    return Finding("unreadable", str(path.absolute()), exc.strerror or str(exc))


def inspect_path(path: str) -> Inspected:
    return inspect_file(Path(path))


def inspect_file(path: Path) -> Inspected:
    """Open and fully decode one file; return what is wrong with it or needs converting.

    What depends on the run (a side too small for `--image-size`) is added by
    `Inspected.for_target`, so that one inspection serves every image size (and the cache)."""
    name = str(path.absolute())
    try:
        info = path.stat()
    except OSError as exc:
        return Inspected(name, (loop_or_unreadable(path, exc),))
    if not stat.S_ISREG(info.st_mode):
        return Inspected(name, (Finding("not_image", name, "not a regular file"),))
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        return Inspected(name, (Finding("not_image", name, f"suffix {path.suffix or '(none)'!r}"),))
    if info.st_size == 0:
        return Inspected(name, (Finding("zero_byte", name),))
    try:
        data = path.read_bytes()
    except OSError as exc:
        return Inspected(name, (Finding("unreadable", name, exc.strerror or str(exc)),))
    findings, size = decode_findings(name, data)
    return Inspected(name, findings, hashlib.sha256(data).hexdigest(), size)


def decode_findings(name: str, data: bytes) -> tuple[tuple[Finding, ...], tuple[int, int] | None]:
    """Findings from decoding `data` (decode errors, format, mode, bit depth) and its size."""
    import io

    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as img:
            fmt, mode, size = img.format, img.mode, img.size
            img.load()
    except UnidentifiedImageError:
        return (Finding("undecodable", name, "not a recognised image format"),), None
    except (OSError, SyntaxError, ValueError) as exc:
        kind = "truncated" if "truncated" in str(exc) or "broken data stream" in str(exc) else "undecodable"
        return (Finding(kind, name, str(exc).splitlines()[0][:120]),), None
    findings = []
    suffix = Path(name).suffix.lower()
    if fmt not in FORMAT_SUFFIXES:
        findings.append(Finding("other_format", name, f"{fmt} content"))
    elif suffix not in FORMAT_SUFFIXES[fmt]:
        findings.append(Finding("extension_mismatch", name, f"{fmt} content named {suffix}"))
    findings += mode_findings(name, data, fmt, mode)
    return tuple(findings), (int(size[0]), int(size[1]))


def mode_findings(name: str, data: bytes, fmt: str | None, mode: str) -> list[Finding]:
    if fmt == "PNG" and len(data) > 24 and data[24] == 16:  # IHDR bit depth
        return [Finding("16bit", name, f"16-bit PNG ({mode})")]
    if mode in ("I;16", "I;16B", "I;16L", "I"):
        return [Finding("16bit", name, f"mode {mode}")]
    kind = {"L": "grayscale", "1": "grayscale", "LA": "rgba", "RGBA": "rgba", "P": "palette",
            "PA": "rgba", "CMYK": "cmyk"}.get(mode)
    return [Finding(kind, name, f"mode {mode}")] if kind else []


Listing = dict[str, dict[str, list[str]]]  # split -> class -> paths, before any file is opened


def check_folders(splits: dict[str, Path], image_size: int, cache: bool = True) -> CheckReport:
    """Check each split's folder (`{"train": dir}`, optionally `"val"`) and list what a run may use."""
    listing, walked = list_folders(splits)
    return check_listing(listing, walked, image_size, splits, cache=cache)


def list_folders(splits: dict[str, Path]) -> tuple[Listing, list[Finding]]:
    """Each split's class folders and their candidate image files, without opening any file.

    Cheap enough for ImageNet-sized folders (docs/data.md, "Folders of ImageNet size"): one
    `scandir` per directory; files are stat-ed and opened only by `check_listing`.
    """
    listing: Listing = {}
    walked: list[Finding] = []
    for split, folder in splits.items():
        listing[split] = {}
        classes = sorted(e.name for e in os.scandir(folder) if not e.name.startswith(".") and e.is_dir())
        for name in classes:
            files = listing[split][name] = []
            for path, finding in walk_files(Path(folder) / name):
                if finding is not None:
                    walked.append(finding)
                elif os.path.splitext(path)[1].lower() not in IMAGE_SUFFIXES:
                    suffix = os.path.splitext(path)[1]
                    walked.append(Finding("not_image", path, f"suffix {suffix or '(none)'!r}"))
                else:
                    files.append(path)
            files.sort()
    return listing, walked


def check_listing(listing: Listing, walked: list[Finding], image_size: int,
                  roots: dict[str, Path], cache: bool = True) -> CheckReport:
    """Open every listed file (cached, a process per core) and sort what is found into a report.

    `roots` are the splits' folders; a split without one is made from another split's
    files (a `--val-split`), so a class without files there is not an empty class folder.
    """
    from bench.data.check_cache import cached_map

    report = CheckReport(findings=list(walked))
    min_side = max(1, int(image_size * TOO_SMALL_FRACTION))
    paths = [p for classes in listing.values() for files in classes.values() for p in files]
    inspected = cached_map(paths, inspect_path, CHECK_VERSION, Inspected.to_record, Inspected.of,
                           keep=lambda found: not {f.kind for f in found.findings} & NOT_KEPT, cache=cache)
    for split, classes in listing.items():
        report.usable[split] = {}
        for name, files in classes.items():
            usable = []
            for path in files:
                found = inspected[path].for_target(min_side)
                report.findings += found.findings
                if found.usable:
                    usable.append(found.path)
                    report.sha256[found.path] = found.sha256
                    if found.needs_conversion:
                        report.to_convert.add(found.path)
            if usable:
                report.usable[split][name] = usable
            elif split in roots:
                folder = os.path.join(os.path.abspath(roots[split]), name)
                report.findings.append(Finding("empty_class", folder, "no usable images"))
    return report


def drop_duplicates(
    report: CheckReport, train: dict[str, list[str]], val: dict[str, list[str]]
) -> dict[str, list[str]]:
    """Validation without files whose bytes equal a training file's; each one becomes a bad finding."""
    train_by_hash = {report.sha256[p]: p for files in train.values() for p in files}
    kept: dict[str, list[str]] = {}
    for name, files in sorted(val.items()):
        for path in files:
            twin = train_by_hash.get(report.sha256[path])
            if twin is not None:
                report.findings.append(Finding("train_val_duplicate", path, f"same bytes as {twin}"))
        remaining = [p for p in files if report.sha256[p] not in train_by_hash]
        if remaining:
            kept[name] = remaining
    return kept


def apply_policy(report: CheckReport, policy: str, source: str) -> None:
    """Stop (raise) on bad files unless the policy is `skip`; check that enough data remains."""
    if policy not in ON_BAD_FILE:
        raise PipebenchError(f"unknown --on-bad-file {policy!r}; valid choices: {', '.join(ON_BAD_FILE)}")
    bad = report.by_severity("bad")
    if bad and policy == "stop":
        kinds = ", ".join(f"{n} {k}" for k, n in sorted(Counter(f.kind for f in bad).items()))
        raise DataCheckFailed(
            f"data check of {source} found {len(bad)} bad file(s) or folder(s) ({kinds}); "
            "fix them, or pass --on-bad-file skip to leave them out for every variant", report)


class DataCheckFailed(PipebenchError):
    """A stop on bad files; carries the report so the CLI can print the summary first."""

    def __init__(self, message: str, report: CheckReport):
        super().__init__(message)
        self.report = report


def convert_to_rgb8(path: str, out_dir: Path) -> str:
    """The one conversion every variant sees: an 8-bit RGB PNG, cached by content hash.

    16-bit samples keep their high byte (as `tf.image.convert_image_dtype` does),
    alpha is dropped (as `tf.io.decode_image(channels=3)` does), palettes and
    CMYK go through PIL's RGB conversion.
    """
    from PIL import Image

    data = Path(path).read_bytes()
    digest = hashlib.sha256(data + CONVERTER_VERSION.encode()).hexdigest()[:24]
    target = out_dir / f"{digest}.png"
    if target.exists():
        return str(target)
    with Image.open(path) as img:
        img.load()
        rgb = to_rgb8(img)
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".tmp-{os.getpid()}.png")
    rgb.save(tmp, format="PNG")
    os.replace(tmp, target)
    return str(target)


def to_rgb8(img):
    from PIL import Image

    if img.mode.startswith("I"):
        high_byte = (np.asarray(img).astype(np.uint32) >> 8).clip(0, 255).astype(np.uint8)
        return Image.fromarray(high_byte, "L").convert("RGB")
    if img.mode in ("P", "PA"):
        img = img.convert("RGBA")
    return img.convert("RGB")
