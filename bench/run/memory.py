"""Memory estimates: refuse a cell that would hold more decoded images than memory allows.

In-memory variants and `cache=memory` keep the decoded float32 training set in
the worker; on a large dataset the OS would kill that worker mid-run. The runner
asks `refusal` before starting such a cell and records it as `refused` with both
sizes named instead.
"""

from __future__ import annotations

import re

import psutil

from bench.data.dataset import DataSpec
from bench.errors import PipebenchError

UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
FLOAT32_BYTES = 4


def parse_size(raw: str) -> int:
    """'512M', '4G', '1.5g' or a plain byte count -> bytes."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([KMGT]?)(i?B)?\s*", raw, re.IGNORECASE)
    if not match or float(match.group(1)) <= 0:
        raise PipebenchError(f"--memory-budget {raw!r} is not a size; valid: a number with K, M, G or T, "
                             "e.g. 512M or 4G")
    return int(float(match.group(1)) * UNITS[match.group(2).upper()])


def human(num_bytes: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if num_bytes < 1024 or unit == "TiB":
            return f"{num_bytes:.1f} {unit}" if unit != "B" else f"{num_bytes:.0f} B"
        num_bytes /= 1024
    raise AssertionError("unreachable")


def decoded_bytes(num_images: int, spec: DataSpec) -> int:
    height, width = spec.image_size
    return num_images * height * width * 3 * FLOAT32_BYTES


def needed_bytes(copies: int, spec: DataSpec) -> int:
    """`copies` decoded training sets plus the decoded validation set every worker holds."""
    return copies * decoded_bytes(len(spec.train_files), spec) + decoded_bytes(len(spec.val_files), spec)


def available_bytes(budget_bytes: int | None) -> int:
    """The memory a cell may use: the user's budget, else what the OS says is available now."""
    return budget_bytes if budget_bytes is not None else psutil.virtual_memory().available


def refusal(variant: str, copies: int, spec: DataSpec, budget_bytes: int | None) -> str | None:
    """Why the cell cannot run (a message naming both sizes), or None when it fits."""
    if copies == 0:
        return None
    need, have = needed_bytes(copies, spec), available_bytes(budget_bytes)
    if need <= have:
        return None
    source = "--memory-budget" if budget_bytes is not None else "available memory"
    return (f"{variant} would hold ~{human(need)} of decoded images ({copies} x {len(spec.train_files)} "
            f"train + {len(spec.val_files)} val at {spec.image_size[0]}x{spec.image_size[1]}x3 float32) "
            f"but {source} is {human(have)}; use a streaming variant, cache=disk, or fewer/smaller images")
