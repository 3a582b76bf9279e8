"""tf.data service scaling: measured throughput against local workers, and a labelled projection.

The projection for N workers on other hosts multiplies the measured rate of one
local worker by N and caps it at the consumer's limit (the model-only bound
measured in the same cells): more workers cannot make training faster than the
model itself. It is arithmetic on measurements, not a measurement, and says so.
"""

from __future__ import annotations

PROJECTED_WORKERS = (1, 2, 4, 8, 16, 32)


def workers_of(row: dict) -> int | None:
    for option in row.get("options", "").split():
        name, _, value = option.partition("=")
        if name == "workers" and value.isdigit():
            return int(value)
    return None


def service_scaling(rows: list[dict]) -> dict | None:
    """Measured (workers -> pipeline, simulated, train images/s) and the projection, or None."""
    measured = sorted(
        ({"workers": workers_of(r), "pipeline": r.get("pipeline_images_per_sec"),
          "simulated": r.get("simulated_images_per_sec"), "train": r.get("images_per_sec"),
          "model_only": r.get("model_only_images_per_sec")}
         for r in rows if r["variant"] == "tf_data_service" and workers_of(r) and r["status"] == "ok"
         and r["precision"] == "float32" and r["augmentation"] == "none"),
        key=lambda m: m["workers"])
    if not measured:
        return None
    one = next((m for m in measured if m["workers"] == 1), None)
    limits = [m["model_only"] for m in measured if m["model_only"]]
    per_worker = one["pipeline"] if one else None
    limit = max(limits) if limits else None
    projection = []
    if per_worker:
        cap = limit or float("inf")
        projection = [{"workers": n, "images_per_sec": min(n * per_worker, cap)} for n in PROJECTED_WORKERS]
    return {"measured": measured, "per_worker_images_per_sec": per_worker,
            "consumer_limit_images_per_sec": limit, "projection": projection}
