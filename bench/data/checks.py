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
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench.errors import PipebenchError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
ON_BAD_FILE = ("stop", "skip")
TOO_SMALL_FRACTION = 0.25  # a side under a quarter of the target size is "much smaller"
CONVERTER_VERSION = "rgb8-v1"

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
        }


def walk_files(folder: Path) -> Iterator[tuple[Path, Finding | None]]:
    """Every entry under `folder`, following directory links but never twice into one directory."""
    seen: set[tuple[int, int]] = set()
    stack = [folder]
    while stack:
        current = stack.pop()
        try:
            info = current.stat()
        except OSError as exc:
            yield current, loop_or_unreadable(current, exc)
            continue
        if (info.st_dev, info.st_ino) in seen:
            yield current, Finding("link_loop", str(current), "directory reached twice through a link")
            continue
        seen.add((info.st_dev, info.st_ino))
        try:
            entries = sorted(current.iterdir(), key=lambda p: p.name, reverse=True)
        except OSError as exc:
            yield current, loop_or_unreadable(current, exc)
            continue
        for entry in entries:
            if entry.name.startswith("."):
                yield entry, Finding("hidden", str(entry.absolute()))
            elif entry.is_dir():
                stack.append(entry)
            else:
                yield entry, None


def loop_or_unreadable(path: Path, exc: OSError) -> Finding:
    if exc.errno == errno.ELOOP:
        return Finding("link_loop", str(path.absolute()), "symbolic link that loops")
    return Finding("unreadable", str(path.absolute()), exc.strerror or str(exc))


def inspect_file(path: Path, min_side: int) -> Inspected:
    """Open and fully decode one file; return what is wrong with it or needs converting."""
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
    findings = decode_findings(name, data, min_side)
    return Inspected(name, findings, hashlib.sha256(data).hexdigest())


def decode_findings(name: str, data: bytes, min_side: int) -> tuple[Finding, ...]:
    """Findings from decoding `data`: decode errors, format, mode, bit depth, size."""
    import io

    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as img:
            fmt, mode, size = img.format, img.mode, img.size
            img.load()
    except UnidentifiedImageError:
        return (Finding("undecodable", name, "not a recognised image format"),)
    except (OSError, SyntaxError, ValueError) as exc:
        kind = "truncated" if "truncated" in str(exc) or "broken data stream" in str(exc) else "undecodable"
        return (Finding(kind, name, str(exc).splitlines()[0][:120]),)
    findings = []
    suffix = Path(name).suffix.lower()
    if fmt not in FORMAT_SUFFIXES:
        findings.append(Finding("other_format", name, f"{fmt} content"))
    elif suffix not in FORMAT_SUFFIXES[fmt]:
        findings.append(Finding("extension_mismatch", name, f"{fmt} content named {suffix}"))
    findings += mode_findings(name, data, fmt, mode)
    if min(size) < min_side:
        findings.append(Finding("too_small", name, f"{size[0]}x{size[1]}, under {min_side} px on a side"))
    return tuple(findings)


def mode_findings(name: str, data: bytes, fmt: str | None, mode: str) -> list[Finding]:
    if fmt == "PNG" and len(data) > 24 and data[24] == 16:  # IHDR bit depth
        return [Finding("16bit", name, f"16-bit PNG ({mode})")]
    if mode in ("I;16", "I;16B", "I;16L", "I"):
        return [Finding("16bit", name, f"mode {mode}")]
    kind = {"L": "grayscale", "1": "grayscale", "LA": "rgba", "RGBA": "rgba", "P": "palette",
            "PA": "rgba", "CMYK": "cmyk"}.get(mode)
    return [Finding(kind, name, f"mode {mode}")] if kind else []


def check_folders(splits: dict[str, Path], image_size: int) -> CheckReport:
    """Check each split's folder (`{"train": dir}`, optionally `"val"`) and list what a run may use."""
    report = CheckReport()
    min_side = max(1, int(image_size * TOO_SMALL_FRACTION))
    for split, folder in splits.items():
        report.usable[split] = check_split(folder, min_side, report)
    return report


def check_split(folder: Path, min_side: int, report: CheckReport) -> dict[str, list[str]]:
    """The usable files of each class folder of `folder`; findings go into `report`."""
    by_class: dict[str, list[str]] = {}
    for class_dir in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = []
        for path, finding in walk_files(class_dir):
            if finding is not None:
                report.findings.append(finding)
                continue
            inspected = inspect_file(path, min_side)
            report.findings += inspected.findings
            if inspected.usable:
                files.append(inspected.path)
                report.sha256[inspected.path] = inspected.sha256
                if inspected.needs_conversion:
                    report.to_convert.add(inspected.path)
        if not files:
            report.findings.append(Finding("empty_class", str(class_dir.absolute()), "no usable images"))
        else:
            by_class[class_dir.name] = sorted(files)
    return by_class


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
