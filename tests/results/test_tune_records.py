"""Profile and sweep records: typed, versioned, loaded with a check (bench.results.tune_records)."""

from __future__ import annotations

import json

import pytest

from bench.errors import PipebenchError
from bench.results.tune_records import TUNE_SCHEMA_VERSION, TuneConfig, TuneRecord, load_tune_record

RECORD = TuneRecord(kind="sweep", created="2026-12-02T06:00:00+0000", environment={"cpu_count": 2},
                    config=TuneConfig(variant="tf_data_naive", options=("parallel=4",), rounds=6),
                    body={"points": [{"knob": "parallel", "value": 4, "median": 900.0}]})


def test_a_record_goes_to_json_and_back_unchanged(tmp_path):
    path = tmp_path / "sweep.json"
    path.write_text(json.dumps(RECORD.to_dict()))
    assert json.loads(path.read_text())["schema_version"] == TUNE_SCHEMA_VERSION
    assert load_tune_record(path) == RECORD


def test_a_record_from_before_the_version_loads_as_version_0(tmp_path):
    old = {k: v for k, v in RECORD.to_dict().items() if k != "schema_version"}
    path = tmp_path / "sweep.json"
    path.write_text(json.dumps(old))
    assert load_tune_record(path) == RECORD


@pytest.mark.parametrize(("content", "fragment"), [
    ("{not json", "is corrupted"),
    (json.dumps({**RECORD.to_dict(), "schema_version": TUNE_SCHEMA_VERSION + 1}), "reads versions 0..1"),
    (json.dumps({**RECORD.to_dict(), "kind": "benchmark"}), "valid: profile, sweep"),
])
def test_a_bad_record_is_a_one_line_error(tmp_path, content, fragment):
    path = tmp_path / "profile.json"
    path.write_text(content)
    with pytest.raises(PipebenchError, match=fragment):
        load_tune_record(path)


def test_no_record_is_none(tmp_path):
    assert load_tune_record(tmp_path / "profile.json") is None
