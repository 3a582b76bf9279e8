"""The run document and what is derived from it: versions, upgrades, corruption, atomic writes,
the table and its pandas loader, and an analysis that fails without costing a measurement."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from bench.errors import PipebenchError
from bench.results.document import SCHEMA_VERSION, load_run, save_document
from bench.results.table import CSV_COLUMNS, load_frame, write_table
from pipelines.files import atomic_write_text

V1_DOC = {
    "schema_version": 1, "run_id": "old", "config": {}, "cells": [{
        "variant": "tf_data_tuned", "precision": "float32", "augmentation": "none", "status": "ok",
        "trials": [{"trial": 0, "status": "ok", "images_per_sec": 100.0, "first_batch_s": 1.0,
                    "epochs": [{"epoch": 1, "images": 10, "train_s": 0.1, "val_accuracy": 0.5}]}],
    }],
}


def write(tmp_path, doc) -> None:
    (tmp_path / "results.json").write_text(json.dumps(doc))


def test_version_1_is_upgraded_to_train_runs(tmp_path):
    write(tmp_path, V1_DOC)
    doc = load_run(tmp_path)
    assert doc["schema_version"] == SCHEMA_VERSION
    assert [r["mode"] for r in doc["cells"][0]["runs"]] == ["train"]
    frame = load_frame(tmp_path)
    assert list(frame.columns) == CSV_COLUMNS
    assert frame.loc[0, "images_per_sec"] == 100.0 and frame.loc[0, "mode"] == "train"


def test_unknown_version_fails_with_the_file_named(tmp_path):
    write(tmp_path, {**V1_DOC, "schema_version": 99})
    with pytest.raises(PipebenchError, match=r"results.json.*schema_version 99.*versions 1\.\.4"):
        load_run(tmp_path)


def test_corrupted_file_fails_with_the_file_named(tmp_path):
    (tmp_path / "results.json").write_text('{"schema_version": 2, "cells": [')
    with pytest.raises(PipebenchError, match="results.json.*corrupted"):
        load_run(tmp_path)


def test_atomic_write_leaves_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "results.json"
    atomic_write_text(target, "old")

    with pytest.raises(TypeError):
        atomic_write_text(target, object())  # cannot be written: nothing replaced
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_save_writes_the_document_only_and_the_table_is_derived_from_it(tmp_path):
    doc = load_run_from(V1_DOC, tmp_path)
    doc["cells"][0]["runs"].append({"mode": "pipeline", "trial": 0, "status": "ok",
                                    "images_per_sec": 400.0, "epochs": []})
    (tmp_path / "results.json").unlink()
    save_document(tmp_path, doc)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]  # nothing analysed while measuring
    write_table(tmp_path, load_run(tmp_path))
    frame = pd.read_csv(tmp_path / "results.csv")
    assert sorted(frame["mode"]) == ["pipeline", "train"]
    assert list(frame.columns) == CSV_COLUMNS


def test_a_failing_analysis_names_itself_and_keeps_every_measurement(tmp_path, monkeypatch):
    from bench import cli
    from bench.results import table

    write(tmp_path, V2_DOC)
    saved = (tmp_path / "results.json").read_bytes()

    def broken(doc, baseline=None):
        raise ZeroDivisionError("a bug in the statistics")

    monkeypatch.setattr(table, "analyse", broken)
    with pytest.raises(PipebenchError, match=r"analysis of .* failed \(ZeroDivisionError: a bug in the "
                                             r"statistics\); every measurement is kept in its results.json"):
        cli.publish(tmp_path)
    assert (tmp_path / "results.json").read_bytes() == saved
    assert not (tmp_path / "results.csv").exists()
    monkeypatch.undo()
    assert list(pd.read_csv(write_table(tmp_path, load_run(tmp_path)))["round"]) == [0, 1]  # derived again


def load_run_from(doc, tmp_path):
    write(tmp_path, doc)
    return load_run(tmp_path)


V2_DOC = {
    "schema_version": 2, "run_id": "v2", "config": {}, "target_accuracy": 0.5,
    "telemetry_overhead": {"variant": "tf_data_naive", "ratio": 0.99},
    "cells": [{
        "variant": "generator", "precision": "float32", "augmentation": "none", "status": "ok",
        "runs": [{"mode": "pipeline", "trial": t, "status": "ok", "images_per_sec": rate,
                  "epochs": [{"epoch": 1, "images": 64, "train_s": 0.5},
                             {"epoch": 2, "images": 64, "train_s": 0.1}]}
                 for t, rate in enumerate((640.0, 600.0))],
    }],
}


def test_version_2_is_upgraded_with_each_trial_as_its_round(tmp_path):
    write(tmp_path, V2_DOC)
    doc = load_run(tmp_path)
    runs = doc["cells"][0]["runs"]
    assert [r["round"] for r in runs] == [0, 1]
    assert [r["images"] for r in runs] == [64, 64]
    assert runs[0]["seconds"] == pytest.approx(0.1) and runs[1]["images_per_sec"] == 600.0  # rates kept
    assert doc["telemetry_overhead"] == [{"variant": "tf_data_naive", "ratio": 0.99}]
    assert doc["rounds"] == []
    frame = load_frame(tmp_path)
    assert list(frame["round"]) == [0, 1] and frame.loc[0, "images_per_sec_median"] == 620.0


def test_typed_records_survive_a_save_and_a_load(tmp_path):
    write(tmp_path, V2_DOC)
    doc = load_run(tmp_path)
    save_document(tmp_path, doc)
    again = load_run(tmp_path)
    assert again["cells"][0]["runs"] == json.loads(json.dumps(again["cells"][0]["runs"]))
    for before, after in zip(doc["cells"][0]["runs"], again["cells"][0]["runs"], strict=True):
        assert {k: v for k, v in before.items() if v is not None} == {
            k: v for k, v in after.items() if v is not None}


def test_version_3_calls_its_rounds_trials_and_loads_with_them_as_rounds(tmp_path):
    from bench.config import RunConfig
    from tests.helpers.cli import TINY

    write(tmp_path, {**V2_DOC, "schema_version": 3, "rounds": [],
                     "config": {"preset": "quick", "embedded": dict(TINY), "trials": 9,
                                "cells": [{"variant": "generator", "precision": "float32",
                                           "augmentation": "none"}]}})
    doc = load_run(tmp_path)
    assert doc["schema_version"] == SCHEMA_VERSION == 4
    assert doc["config"]["rounds"] == 9 and "trials" not in doc["config"]
    assert RunConfig.from_dict(doc["config"]).rounds == 9  # --resume of an older run
    assert RunConfig.from_dict({**doc["config"], "trials": 7, "rounds": None} | {"rounds": 7}).rounds == 7


def test_the_runners_typed_document_is_the_file_and_reads_back_as_itself(tmp_path):
    from bench.results.document import RoundRecord, RunDocument
    from bench.results.records import CellResult

    write(tmp_path, V2_DOC)
    raw = load_run(tmp_path)
    doc = RunDocument.from_dict({**raw, "a_later_field": {"kept": True}})
    cells = [CellResult.from_dict(c) for c in raw["cells"]]
    doc = doc.with_round(RoundRecord(0, ("generator|float32|none",), 1.0e9))
    doc = doc.with_framework({"keras_backend": "jax", "jax": "0.4"})
    save_document(tmp_path, doc, cells=cells)
    again = load_run(tmp_path)
    assert again["rounds"][-1] == {"round": 0, "order": ["generator|float32|none"], "started_unix": 1.0e9}
    assert again["environment"]["frameworks"]["jax"]["jax"] == "0.4"
    assert again["a_later_field"] == {"kept": True}
    assert RunDocument.from_dict(again) == doc
    assert [CellResult.from_dict(c) for c in again["cells"]] == cells


def test_an_accuracy_fit_reads_its_end_and_the_epoch_it_reached_a_target():
    from bench.results.records import AccuracyFit

    fit = AccuracyFit.from_dict({"seed": 1, "epochs": 4, "images_per_epoch": 48,
                                 "val_accuracy": [0.3, None, 0.7, 0.65], "val_loss": [1.2, 1.0, None, None]})
    assert fit.final_accuracy == 0.65 and fit.final_loss == 1.0 and fit.validated
    assert fit.epochs_to(0.6) == 3 and fit.epochs_to(0.9) is None and fit.epochs_to(None) is None
    assert AccuracyFit.from_dict(fit.to_dict()) == fit
    assert not AccuracyFit.from_dict({"val_accuracy": [None, None]}).validated
