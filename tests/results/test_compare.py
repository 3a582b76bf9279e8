"""Comparing saved runs, driven by stored result documents."""

from __future__ import annotations

import copy
import json

import pytest

from bench.results.compare import compare_runs, fingerprint_differences
from bench.results.document import RunDocument
from tests.helpers.cli import run_main


def document(rates: dict[str, list[float]], cpu="AMD EPYC", dataset="abc") -> dict:
    """A stored run: one cell per variant, one `train` run per rate."""
    cells = [{"variant": name, "precision": "float32", "augmentation": "none", "status": "ok",
              "runs": [{"mode": "train", "trial": t, "status": "ok", "images_per_sec": r, "epochs": []}
                       for t, r in enumerate(trial_rates)]}
             for name, trial_rates in rates.items()]
    return {"schema_version": 2, "run_id": "x", "config": {}, "cells": cells, "target_accuracy": None,
            "environment": {"cpu_model": cpu, "cpu_count_logical": 2, "ram_bytes": 1, "machine": "x86_64",
                            "framework": {"tensorflow": "2.21.0", "keras": "3.15.1", "gpus": []}},
            "dataset": {"sha256": dataset, "num_files": 10, "total_bytes": 100}}


def save(tmp_path, name, doc):
    folder = tmp_path / name
    folder.mkdir()
    (folder / "results.json").write_text(json.dumps(doc))
    return folder


def test_ratios_and_test_verdicts(tmp_path):
    base = save(tmp_path, "a", document({"tf_data_tuned": [100, 101, 99, 102, 98, 100],
                                         "generator": [50, 51, 49, 52, 48, 50]}))
    other = save(tmp_path, "b", document({"tf_data_tuned": [100, 103, 98, 99, 101, 97],
                                          "generator": [80, 81, 79, 82, 78, 80]}))
    warnings, [frame], _ = compare_runs([base, other])
    assert warnings == []
    rows = frame.set_index("variant")
    assert rows.loc["tf_data_tuned", "verdict"] == "within noise"
    assert rows.loc["generator", "verdict"] == "faster"
    assert rows.loc["generator", "ratio"] == pytest.approx(80 / 50)
    assert rows.loc["generator", "ratio_low"] < 1.6 < rows.loc["generator", "ratio_high"]
    assert "Mann-Whitney" in rows.loc["generator", "test"]


def test_three_samples_a_side_cannot_be_called_different(tmp_path):
    """Mann-Whitney's smallest two-sided p with 3 + 3 samples is 0.1: no claim, however far apart."""
    base = save(tmp_path, "a", document({"generator": [50, 51, 49]}))
    other = save(tmp_path, "b", document({"generator": [80, 81, 79]}))
    _, [frame], _ = compare_runs([base, other])
    assert frame.loc[0, "verdict"] == "too few rounds" and frame.loc[0, "p_adjusted"] == pytest.approx(0.1)


def test_different_hardware_and_dataset_are_named():
    a = document({"generator": [50]})
    b = copy.deepcopy(a)
    b["environment"]["cpu_model"] = "Intel Xeon"
    b["dataset"]["sha256"] = "zzz"
    notes = fingerprint_differences(RunDocument.from_dict(a), RunDocument.from_dict(b))
    assert any(n.startswith("hardware differs: cpu_model") for n in notes)
    assert any(n.startswith("dataset differs: sha256") for n in notes)


def test_cli_warns_loudly_on_different_machines(tmp_path):
    base = save(tmp_path, "a", document({"generator": [50, 51, 49]}))
    other = save(tmp_path, "b", document({"generator": [50, 51, 49]}, cpu="Intel Xeon"))
    result = run_main("compare", str(base), str(other), "--out", str(tmp_path / "cmp"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "cmp" / "compare.html").exists()
    assert "WARNING:" in result.stderr and "cpu_model 'AMD EPYC' vs 'Intel Xeon'" in result.stderr
    assert "too few rounds" in result.stdout  # 3 + 3 samples: the test can never reach 0.05
    assert "drift of the machine between them is not controlled" in result.stderr
    assert "measure the cells you want to compare in one run" in result.stderr


def test_cli_needs_two_runs(tmp_path):
    result = run_main("compare", str(save(tmp_path, "a", document({"generator": [1]}))))
    assert result.returncode == 2 and "two or more" in result.stderr
