"""The job the runner writes for a worker: typed on both sides, the same after its JSON trip."""

from __future__ import annotations

import json

from bench.config import Cell, RunConfig
from bench.data.dataset import EmbeddedDataset
from bench.run.job import Job, Settings
from bench.run.runner import job_for
from tests.helpers.cli import TINY


def test_a_job_survives_its_json_file_and_the_reference_alone_gets_the_band_seeds(tiny_spec, tmp_path):
    reference, other = Cell("tf_data_tuned"), Cell("generator", cores=1, options=("prefetch=2",))
    config = RunConfig("quick", EmbeddedDataset(**TINY), cells=(reference, other), rounds=3, accuracy_seeds=4,
                       modes=("train", "pipeline"), options=("tf_data_tuned.cache=disk",), page_cache="cold")
    for cell in config.cells:
        job = job_for(cell, config, tiny_spec, tmp_path)
        again = Job.from_dict(json.loads(json.dumps(job.to_dict())))
        assert again == job
        assert again.settings.modes == ("train", "pipeline") and again.settings.page_cache == "cold"
        assert again.scratch_dir.is_dir() and again.result_path.parent.name == "cells"
    band, plain = (job_for(c, config, tiny_spec, tmp_path) for c in config.cells)
    assert (band.settings.band_seeds, plain.settings.band_seeds) == (4, 1)
    assert band.options["cache"] == "disk" and plain.options["prefetch"] == 2  # resolved, typed values
    assert plain.cell.cores == 1 and plain.with_options({"prefetch": 3}).options == {"prefetch": 3}


def test_settings_take_every_shared_field_of_the_run():
    config = RunConfig("quick", EmbeddedDataset(**TINY), model="mobilenet_v2", epochs=4, batch_size=8,
                       rounds=9, seed=3, min_sample_s=0.4, step_s=0.02, telemetry_hz=2.0, accuracy_epochs=6)
    settings = Settings.of(config)
    assert (settings.model, settings.epochs, settings.batch_size, settings.rounds, settings.seed) == (
        "mobilenet_v2", 4, 8, 9, 3)
    assert (settings.min_sample_s, settings.step_s, settings.telemetry_hz, settings.accuracy_epochs) == (
        0.4, 0.02, 2.0, 6)


def test_a_worker_and_a_service_server_find_the_project_from_any_folder():
    """The first PYTHONPATH entry a child gets is the folder that holds bench/ and pipelines/."""
    import os
    from pathlib import Path

    from bench.run import cluster
    from bench.run.runner import child_env

    for root in (Path(child_env()["PYTHONPATH"].split(os.pathsep)[0]), Path(cluster.REPO_ROOT)):
        assert (root / "bench" / "run" / "worker.py").is_file() and (root / "pipelines" / "base.py").is_file()
