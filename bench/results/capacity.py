"""What a pipeline needs: its rate on N cores, predicted from its cost and structure, and the cores
(or tf.data service workers) that feed a target rate.

The model rests on a cell's pipeline-mode samples (the input alone, no model), medians of the
rounds, at the K cores it ran on (`--cores`; all the usable cores otherwise):

* `cpu_us_per_image`: CPU time per image of the cell's processes and, for a local tf.data
  service, of its servers: what the images cost, wherever they are made;
* `threads(N)`: how many threads (or processes) share the per-image work on N cores, declared by
  the variant (`pipelines.base.Variant.decode_threads`): N for an AUTOTUNE map, its
  `parallel_calls` for a fixed one, one for a Python loader (its per-image work holds the GIL);
* `utilisation`: the share of those threads' cores the cell kept busy, cores used / min(K,
  threads(K)): what waiting (storage, hand-offs between threads, another process on the
  machine) left idle at K cores.

    rate(N) = min(N, threads(N)) * utilisation / cpu_us_per_image

CPU time does not see waiting, so the utilisation carries it; a cell that used well under its
cores (`WAITING_BELOW`) is limited by something other than its cores (the binding limit says so).
The prediction is checked against the measured cells of the same variant and settings at other
core counts (`checks`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bench.config import Cell
from bench.results.records import CellResult
from bench.stats import median_of

WAITING_BELOW = 0.8  # utilisation under which a cell is said to wait rather than compute
MAX_CORES_TABLE = 256  # the core counts a capacity is tabulated for


@dataclass(frozen=True)
class Capacity:
    """One cell's cost and structure, and what follows from them."""

    cell: Cell
    cores: int  # the cores it ran on
    images_per_sec: float  # measured, pipeline mode, median of the rounds
    cpu_us_per_image: float  # its processes' and its servers'
    service_cpu_us_per_image: float | None  # the servers' part (local tf.data service)
    cores_used: float
    threads_at: tuple[int, ...]  # threads(N) for N = 1 .. MAX_CORES_TABLE

    def threads(self, cores: int) -> int:
        return self.threads_at[min(cores, len(self.threads_at)) - 1]

    @property
    def utilisation(self) -> float:
        return min(self.cores_used / min(self.cores, self.threads(self.cores)), 1.0)

    def predict(self, cores: int) -> float:
        """Images/s on `cores` cores of this machine's kind."""
        return min(cores, self.threads(cores)) * self.utilisation * 1e6 / self.cpu_us_per_image

    @property
    def ceiling(self) -> float | None:
        """The most any number of cores gives, where the work does not spread (None: it spreads)."""
        if self.threads(len(self.threads_at)) >= len(self.threads_at):
            return None
        return self.predict(len(self.threads_at))

    def cores_for(self, rate: float) -> int | None:
        """The fewest cores that feed `rate` images/s; None where no number of cores does."""
        if self.ceiling is not None and self.ceiling < rate:
            return None
        for cores in range(1, len(self.threads_at) + 1):
            if self.predict(cores) >= rate:
                return cores
        return None

    def service_workers_for(self, rate: float, cores_per_worker: int = 1) -> int | None:
        """tf.data service workers of `cores_per_worker` cores each that make `rate` images/s,
        from the servers' CPU time per image at this cell's utilisation."""
        if not self.service_cpu_us_per_image:
            return None
        per_worker = cores_per_worker * self.utilisation * 1e6 / self.service_cpu_us_per_image
        return math.ceil(rate / per_worker)

    @property
    def binding(self) -> str:
        """Which limit binds at the cores it ran on, in words."""
        if self.service_cpu_us_per_image is not None and self.threads(self.cores) < self.cores:
            return (f"its {self.threads(self.cores)} tf.data service worker(s): more workers, each of "
                    "its own cores, spread the work")
        if self.utilisation < WAITING_BELOW:
            return (f"waiting: used {self.cores_used:.2f} of the {min(self.cores, self.threads(self.cores))} "
                    "core(s) its threads could use (storage, hand-offs, or another process)")
        if self.threads(self.cores) < self.cores:
            return f"{self.threads(self.cores)} thread(s) of per-image work (a sequential stage or the GIL)"
        return "its cores"


def threads_table(cell: Cell, run_options: list[str] | tuple[str, ...]) -> tuple[int, ...]:
    """The variant's `decode_threads` for 1..MAX_CORES_TABLE cores, with the run's options; a
    variant that cannot be loaded here (a user's pipeline whose module is gone) is taken to spread."""
    from pipelines.base import cell_options, get_variant

    try:
        variant = get_variant(cell.variant)
        options = cell_options(variant, run_options, cell.options)
        return tuple(variant.decode_threads(options, n) for n in range(1, MAX_CORES_TABLE + 1))
    except Exception:  # noqa: BLE001  (any failure to load it: assume the work spreads)
        return tuple(range(1, MAX_CORES_TABLE + 1))


def capacity_of(result: CellResult, cores_available: int, run_options=()) -> Capacity | None:
    """The cell's `Capacity` from its pipeline-mode samples (None without them or their CPU time)."""
    runs = [r for r in result.runs_of("pipeline") if r.sample.cpu_s is not None and r.sample.images]
    if not runs:
        return None
    total = [1e6 * (r.sample.cpu_s + (r.sample.service_cpu_s or 0.0)) / r.sample.images for r in runs]
    service = [1e6 * r.sample.service_cpu_s / r.sample.images for r in runs
               if r.sample.service_cpu_s is not None]
    used = [(r.sample.cpu_s + (r.sample.service_cpu_s or 0.0)) / r.sample.seconds for r in runs]
    return Capacity(cell=result.cell, cores=result.cell.cores or cores_available,
                    images_per_sec=median_of([r.images_per_sec for r in runs]),
                    cpu_us_per_image=median_of(total), service_cpu_us_per_image=median_of(service),
                    cores_used=median_of(used), threads_at=threads_table(result.cell, run_options))


@dataclass(frozen=True)
class PredictionCheck:
    """A cell's measured pipeline rate against the rate predicted from the fewest-core cell of the
    same variant and settings (`--cores`)."""

    cell: Cell
    from_cores: int
    cores: int
    predicted_images_per_sec: float
    measured_images_per_sec: float

    @property
    def error(self) -> float:
        """measured / predicted - 1."""
        return self.measured_images_per_sec / self.predicted_images_per_sec - 1.0


def checks(capacities: list[Capacity]) -> list[PredictionCheck]:
    """Every cell predicted from the fewest-core cell of its variant and settings (itself excluded)."""
    groups: dict[str, list[Capacity]] = {}
    for found in capacities:
        groups.setdefault(found.cell.settings_key, []).append(found)
    done = []
    for members in groups.values():
        base = min(members, key=lambda c: c.cores)
        done += [PredictionCheck(c.cell, base.cores, c.cores, base.predict(c.cores), c.images_per_sec)
                 for c in members if c.cores != base.cores]
    return done
