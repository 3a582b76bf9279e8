"""The data check on a messy folder, the stop and skip policies, and the memory refusal."""

from __future__ import annotations

import json
import os
import pickle
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from bench.data.checks import KINDS, check_folders
from bench.data.dataset import EmbeddedDataset, resolve_spec
from pipelines import REGISTRY
from pipelines.decode import pil_load
from tests.helpers import messy
from tests.helpers.cli import run_cli, run_main
from tests.helpers.contract import assert_contract, one_epoch, reference_for

AS_ROOT = os.geteuid() == 0  # root reads a chmod 000 file; the unreadable case runs as nobody then
SMALL_RUN = ("--image-size", "32", "--epochs", "2", "--batch-size", "8", "--rounds", "1",
             "--min-sample-s", "0.05", "--accuracy-epochs", "2")


@pytest.fixture(scope="module")
def messy_root():
    root = Path(tempfile.mkdtemp(prefix="pipebench-messy-"))
    root.chmod(0o755)  # traversable by the unprivileged user of the unreadable-file test
    return messy.build(root)


def expected_kinds(root: Path) -> dict[str, str]:
    """Planted path -> kind, without the unreadable file when root can read it anyway."""
    return {str(root / rel): kind for rel, kind in messy.EXPECTED.items()
            if not (AS_ROOT and kind == "unreadable")}


def folders(root: Path) -> list[str]:
    return ["--data-dir", str(root / "train"), "--val-dir", str(root / "val")]


def test_messy_folder_plants_every_kind():
    assert set(messy.EXPECTED.values()) == set(KINDS), "a kind the check knows has no test case"


def test_check_reports_every_case_with_its_path(messy_root):
    result = run_cli("check", *folders(messy_root), "--image-size", "32")
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0, "the error must be one line"
    assert "bad file(s)" in result.stderr and "--on-bad-file skip" in result.stderr
    for path, kind in expected_kinds(messy_root).items():
        assert f"{kind}: {path}" in result.stdout, f"{kind} not reported for {path}"
    for rel in ("train/cat/good_03.jpg", "train/dog/good_00.jpg", "val/cat/val_00.jpg"):
        assert str(messy_root / rel) not in result.stdout, f"good file {rel} reported"


def inspect_as_nobody(root: Path, conn) -> None:
    os.setgid(65534)
    os.setuid(65534)
    report = check_folders({"train": root / "train"}, 32)
    conn.send(pickle.dumps([(f.kind, f.path) for f in report.findings]))


def test_unreadable_file_is_reported(messy_root):
    from PIL import Image

    Image.init()  # plugins loaded before the fork: an unprivileged child cannot import from /root
    locked = str(messy_root / "train/cat/locked.jpg")
    if not AS_ROOT:
        findings = [(f.kind, f.path) for f in check_folders({"train": messy_root / "train"}, 32).findings]
    else:
        import multiprocessing as mp

        parent, child = mp.get_context("fork").Pipe()
        proc = mp.get_context("fork").Process(target=inspect_as_nobody, args=(messy_root, child))
        proc.start()
        assert parent.poll(60), "the unprivileged check did not answer"
        findings = pickle.loads(parent.recv())
        proc.join(10)
    assert ("unreadable", locked) in findings


def test_run_stops_before_measuring_with_a_summary(messy_root, tmp_path):
    result = run_main("run", *folders(messy_root), "--variants", "generator", *SMALL_RUN,
                     "--results-dir", str(tmp_path))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("pipebench: error: data check of") and "--on-bad-file skip" in last
    assert f"truncated: {messy_root / 'train/cat/truncated.jpg'}" in result.stderr
    assert not list(tmp_path.iterdir()), "nothing may be measured or written"


@pytest.fixture(scope="module")
def skipped_run(messy_root, tmp_path_factory):
    results = tmp_path_factory.mktemp("results")
    result = run_cli("run", *folders(messy_root), "--on-bad-file", "skip",
                     "--variants", "generator,tf_data_naive,image_dataset_from_directory",
                     "--modes", "pipeline", *SMALL_RUN, "--results-dir", str(results))
    assert result.returncode == 0, result.stderr[-3000:]
    path = next(results.glob("*/results.json"))
    return {**json.loads(path.read_text()), "run_dir": str(path.parent)}


def test_skip_records_counts_and_the_files_left_out(skipped_run, messy_root):
    check = skipped_run["data_check"]
    expected = expected_kinds(messy_root)
    assert check["policy"] == "skip"
    planted_counts = Counter(expected.values()) + Counter({"hidden": 1})  # the empty class's .DS_Store
    assert check["counts"] == dict(sorted(planted_counts.items()))
    bad = {p for p, kind in expected.items() if KINDS[kind][0] == "bad"}
    assert set(check["left_out"]) == bad
    assert set(check["converted"]) == {p for p, kind in expected.items() if KINDS[kind][0] == "converted"}


def test_skip_gives_every_variant_the_same_images(skipped_run, messy_root):
    usable = 12 + 12 + 7 + (1 if AS_ROOT else 0)  # good cats, good dogs, converted, readable locked.jpg
    assert skipped_run["dataset"]["num_train"] == usable
    for cell in skipped_run["cells"]:
        assert cell["status"] == "ok", cell.get("error")
        epochs = [e for run in cell["runs"] for e in run["epochs"]]
        assert epochs and {e["images"] for e in epochs} == {usable}, cell["variant"]


@pytest.fixture(scope="module")
def skipped_spec(messy_root):
    return resolve_spec(messy_root / "train", messy_root / "val", 0.2,
                        EmbeddedDataset(0, 0, 32, 2), seed=0, on_bad_file="skip")[0]


def test_converted_files_decode_identically_on_both_decoder_paths(skipped_spec):
    from pipelines.decode import decode_all

    converted = [f for f in skipped_spec.train_files if "/converted/" in f]
    assert len(converted) == 7
    reference = decode_all(converted, skipped_spec.image_size)
    python_side = np.stack([pil_load(f, skipped_spec.image_size) for f in converted])
    np.testing.assert_array_equal(reference, python_side)


@pytest.mark.parametrize("name", sorted(n for n, v in REGISTRY.items() if not v.augments_itself))
def test_every_variant_delivers_the_cleaned_folder(skipped_spec, tmp_path, name):
    reference = reference_for(skipped_spec)
    assert_contract(skipped_spec, name, one_epoch(skipped_spec, name, tmp_path), reference)


@pytest.mark.slow
def test_memory_refusal_names_the_variant_and_both_sizes(tmp_path):
    result = run_cli("run", "--variants", "in_memory_numpy,generator", "--memory-budget", "64K",
                     "--num-train", "48", "--num-val", "24", "--num-classes", "3", *SMALL_RUN,
                     "--modes", "pipeline", "--results-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr[-2000:]
    doc = json.loads(next(tmp_path.glob("*/results.json")).read_text())
    cells = {c["variant"]: c for c in doc["cells"]}
    assert cells["generator"]["status"] == "ok"
    refused = cells["in_memory_numpy"]
    assert refused["status"] == "refused"
    need_mib = (2 * 48 + 24) * 32 * 32 * 3 * 4 / 2**20
    assert f"~{need_mib:.1f} MiB" in refused["error"] and "(2 x 48 train + 24 val" in refused["error"]
    assert "--memory-budget is 64.0 KiB" in refused["error"] and "in_memory_numpy" in refused["error"]


@pytest.mark.parametrize("raw", ["lots", "-1G", "0"])
def test_memory_budget_must_be_a_size(raw, tmp_path):
    result = run_main("run", f"--memory-budget={raw}", "--results-dir", str(tmp_path))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"--memory-budget {raw!r} is not a size" in result.stderr



def test_report_lists_the_data_check(skipped_run, messy_root):
    html = (Path(skipped_run["run_dir"]) / "report.html").read_text()
    section = html[html.index('<div id="data-check">'):]
    section = section[:section.index("</div>")]
    assert "Policy <code>skip</code>" in section and "1 truncated" in section
    assert str(messy_root / "train/cat/garbage.jpg") in section
    assert str(messy_root / "train/dog/cmyk.jpg") in section
