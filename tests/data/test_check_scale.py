"""The data check at scale: its cache and the cache's invalidation, the parallel path, `--subset`."""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from pathlib import Path

import pytest

from bench.data import check_cache, checks
from bench.data.checks import check_folders
from bench.data.dataset import EmbeddedDataset, resolve_spec, sample_classes, stratified_counts
from bench.errors import PipebenchError
from tests.helpers import messy
from tests.helpers.cli import assert_one_line_error, run_main


@pytest.fixture()
def counted(monkeypatch):
    """The paths each check actually opened (those the cache did not answer), one list per call."""
    calls: list[list[str]] = []
    real = check_cache.map_files

    def counting(paths, func, workers=None):
        calls.append(list(paths))
        return real(paths, func, workers)

    monkeypatch.setattr(check_cache, "map_files", counting)
    return calls


@pytest.fixture()
def messy_root():
    root = Path(tempfile.mkdtemp(prefix="pipebench-messy-"))
    return messy.build(root)


def findings_of(report) -> list[tuple[str, str, str]]:
    return sorted((f.kind, f.path, f.detail) for f in report.findings)


def test_second_check_reads_the_cache_and_finds_the_same(messy_root, counted):
    splits = {"train": messy_root / "train", "val": messy_root / "val"}
    first = check_folders(splits, 32)
    second = check_folders(splits, 32)
    # never kept: what an unreadable file or a looping link gives depends on who reads, and has no stat
    unreadable = {str(messy_root / "train/cat/locked.jpg"), str(messy_root / "train/cat/loop.jpg")}
    assert len(counted[0]) > 30 and set(counted[1]) <= unreadable
    assert findings_of(second) == findings_of(first)
    assert second.usable == first.usable and second.sha256 == first.sha256
    # what depends on the run's image size is decided per run, from the kept sizes: at 160 px
    # (a quarter: 40) every 32-px image is too small, and still no file is opened again
    larger = check_folders(splits, 160)
    assert set(counted[2]) <= unreadable
    assert Counter(f.kind for f in larger.findings)["too_small"] > 30


def test_a_changed_file_is_checked_again(messy_root, counted):
    splits = {"train": messy_root / "train"}
    check_folders(splits, 32)
    good = messy_root / "train/dog/good_03.jpg"
    good.write_bytes((messy_root / "train/cat/truncated.jpg").read_bytes())  # now broken
    report = check_folders(splits, 32)
    assert str(good) in counted[-1]
    assert ("truncated", str(good)) in {(f.kind, f.path) for f in report.findings}
    chmodded = messy_root / "train/dog/good_04.jpg"
    chmodded.chmod(0o600)  # same bytes, same mtime: only its status-change time moved
    check_folders(splits, 32)
    assert str(chmodded) in counted[-1] and str(good) not in counted[-1]


def test_a_new_check_version_checks_everything_again(messy_root, counted, monkeypatch):
    splits = {"train": messy_root / "train"}
    check_folders(splits, 32)
    monkeypatch.setattr(checks, "CHECK_VERSION", "check-test-bump")
    check_folders(splits, 32)
    assert len(counted[1]) == len(counted[0])


def test_without_a_writable_cache_the_check_still_runs(messy_root, monkeypatch, tmp_path):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("x")
    monkeypatch.setattr(check_cache, "cache_path", lambda: blocked / "data-check.sqlite")
    report = check_folders({"train": messy_root / "train"}, 32)
    found = {(f.kind, f.path) for f in report.findings}
    assert ("truncated", str(messy_root / "train/cat/truncated.jpg")) in found


def test_parallel_inspection_finds_what_a_serial_one_does(tmp_path):
    from PIL import Image

    folder = tmp_path / "many" / "a"
    folder.mkdir(parents=True)
    for i in range(check_cache.PARALLEL_FROM + 10):
        Image.new("RGB", (8 + i % 5, 8), (i % 256, 0, 0)).save(folder / f"{i:04d}.jpg")
    (folder / "0007.jpg").write_bytes(b"garbage")
    paths = sorted(str(p) for p in folder.iterdir())
    serial = check_cache.map_files(paths, checks.inspect_path, workers=1)
    parallel = check_cache.map_files(paths, checks.inspect_path, workers=2)
    assert parallel == serial
    assert [f.kind for f in serial[7].findings] == ["undecodable"]


def test_stratified_counts_are_proportional_and_add_up():
    counts = stratified_counts({"a": 700, "b": 200, "c": 100}, 10)
    assert counts == {"a": 7, "b": 2, "c": 1}
    uneven = stratified_counts({"a": 5, "b": 5, "c": 5}, 7)
    assert sum(uneven.values()) == 7 and max(uneven.values()) - min(uneven.values()) <= 1


def test_subset_sample_is_seeded_and_stratified():
    by_class = {c: [f"/d/{c}/{i:04d}.jpg" for i in range(n)] for c, n in (("a", 600), ("b", 300), ("c", 100))}
    first = sample_classes(by_class, 100, seed=3)
    assert {c: len(f) for c, f in first.items()} == {"a": 60, "b": 30, "c": 10}
    assert sample_classes(by_class, 100, seed=3) == first
    other = sample_classes(by_class, 100, seed=4)
    assert other != first and {c: len(f) for c, f in other.items()} == {"a": 60, "b": 30, "c": 10}
    assert all(set(first[c]) <= set(by_class[c]) for c in by_class)


def test_subset_checks_and_records_only_what_it_keeps(tiny_dirs, counted):
    train_dir, val_dir = Path(tiny_dirs[1]), Path(tiny_dirs[3])
    spec, report = resolve_spec(train_dir, val_dir, 0.2, EmbeddedDataset(0, 0, 32, 3), seed=5, subset=12)
    assert len(spec.train_files) == 12
    assert Counter(spec.train_labels) == Counter({0: 4, 1: 4, 2: 4})
    assert report.record("stop")["subset"] == {"train_files": 12, "seed": 5, "train_files_in_folder": 48,
                                               "val_files": 6, "val_files_in_folder": 24}
    assert len(counted[-1]) <= 12 + 6  # only the subset (and its validation share) was opened
    again, _ = resolve_spec(train_dir, val_dir, 0.2, EmbeddedDataset(0, 0, 32, 3), seed=5, subset=12)
    assert again.train_files == spec.train_files


def test_subset_larger_than_the_folder_is_one_line(tiny_dirs):
    assert_one_line_error(run_main("check", *tiny_dirs, "--subset", "49"), "--subset 49", "valid: 1..48")


def test_check_cli_with_a_subset(tiny_dirs):
    result = run_main("check", *tiny_dirs, "--subset", "9")
    assert result.returncode == 0, result.stderr
    assert "usable: 9 train and" in result.stdout


def test_listing_does_not_open_files(tmp_path, counted):
    """Classes and files are listed with one scandir per folder; a file is opened only when checked."""
    from bench.data.checks import list_folders

    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.jpg").write_bytes(b"not opened by the listing")
    os.mkfifo(tmp_path / "a" / "pipe.jpg")  # opening it for reading would block
    listing, walked = list_folders({"train": tmp_path})
    assert listing == {"train": {"a": [str(tmp_path / "a" / "pipe.jpg"), str(tmp_path / "a" / "x.jpg")]}}
    assert counted == []


def test_subset_of_zero_files_is_refused():
    with pytest.raises(PipebenchError, match="valid: 1.."):
        from bench.data.dataset import take_subset

        take_subset({"train": {"a": []}, "val": {}}, 1, 0, "somewhere")
