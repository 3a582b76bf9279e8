"""The embedded dataset, folder scanning and the train/validation split."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench.data.checks import check_folders
from bench.data.dataset import EmbeddedDataset, build_spec, check_layout, ensure_embedded, split_files
from bench.errors import PipebenchError


def test_embedded_dataset_is_deterministic_and_laid_out_by_class(tiny_spec):
    root = ensure_embedded(EmbeddedDataset(48, 24, 32, 3))
    assert sorted(p.name for p in (root / "train").iterdir()) == list(tiny_spec.class_names)
    first = sorted((root / "train").rglob("*.jpg"))[0].read_bytes()
    import io

    import numpy as np

    from bench.data.dataset import draw_shape

    again = io.BytesIO()
    draw_shape("circle", 32, np.random.default_rng([0, 0, 0])).save(again, format="JPEG", quality=90)
    assert again.getvalue() == first


def test_spec_splits_are_disjoint_and_labels_follow_sorted_classes(tiny_spec):
    assert len(tiny_spec.train_files) == 48 and len(tiny_spec.val_files) == 24
    assert not set(tiny_spec.train_files) & set(tiny_spec.val_files)
    assert list(tiny_spec.class_names) == sorted(tiny_spec.class_names)
    for path, label in zip(tiny_spec.train_files, tiny_spec.train_labels, strict=True):
        assert Path(path).parent.name == tiny_spec.class_names[label]


def test_train_view_holds_exactly_the_train_files(tiny_spec):
    view = Path(tiny_spec.train_dir)
    linked = sorted(os.path.realpath(p) for p in view.rglob("*") if p.is_symlink())
    assert linked == sorted(os.path.realpath(p) for p in tiny_spec.train_files)


def test_split_is_stratified_deterministic_and_disjoint(tmp_path):
    by_class = {c: [str(tmp_path / c / f"{i}.jpg") for i in range(10)] for c in ("a", "b")}
    train, val = split_files(by_class, 0.3, seed=1)
    assert split_files(by_class, 0.3, seed=1) == (train, val)
    for c in by_class:
        assert len(val[c]) == 3 and len(train[c]) == 7
        assert not set(train[c]) & set(val[c])


def test_scan_accepts_any_case_and_ignores_other_files(tmp_path):
    from PIL import Image

    (tmp_path / "cat").mkdir()
    for name in ("a.JPG", "b.jpeg", "c.Png", "notes.txt", ".hidden.jpg"):
        fmt = "PNG" if name.endswith("Png") else "JPEG"
        Image.new("RGB", (32, 32), "red").save(tmp_path / "cat" / name, format=fmt)
    report = check_folders({"train": tmp_path}, 32)
    assert [Path(f).name for f in report.usable["train"]["cat"]] == ["a.JPG", "b.jpeg", "c.Png"]
    assert sorted(f.kind for f in report.findings) == ["hidden", "not_image"]


@pytest.mark.parametrize("setup, message", [
    (lambda p: None, "does not exist"),
    (lambda p: p.mkdir(), "has no class subfolders"),
    (lambda p: p.write_text("x"), "is not a folder"),
])
def test_layout_errors_name_the_problem(tmp_path, setup, message):
    folder = tmp_path / "data"
    setup(folder)
    with pytest.raises(PipebenchError, match=message):
        check_layout(folder, "--data-dir")


def test_validation_class_missing_from_train_is_an_error(tmp_path):
    with pytest.raises(PipebenchError, match="not in the training data"):
        build_spec({"a": ["x.jpg"]}, {"b": ["y.jpg"]}, 32, "test")
