"""The embedded dataset, folder scanning and the train/validation split."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from bench.data.checks import check_folders
from bench.data.dataset import (
    EmbeddedDataset,
    build_spec,
    check_layout,
    ensure_embedded,
    split_files,
    write_embedded,
)
from bench.errors import PipebenchError
from tests.helpers.cli import TINY


def test_embedded_dataset_is_deterministic_and_laid_out_by_class(tiny_spec, tmp_path):
    """The same parameters give the same bytes, whatever the number of processes drawing them;
    another seed gives other images."""
    params = EmbeddedDataset(**TINY)
    root = ensure_embedded(params)
    assert sorted(p.name for p in (root / "train").iterdir()) == list(tiny_spec.class_names)
    write_embedded(params, tmp_path / "serial", workers=1)

    def contents(folder):
        return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*.jpg"))}

    assert contents(tmp_path / "serial") == contents(root)
    other = replace(params, seed=1, num_train=6, num_val=0)
    write_embedded(other, tmp_path / "other", workers=1)
    first_six = {k: v for k, v in contents(root).items() if k.parts[0] == "train"
                 and int(k.stem.split("_")[1]) < 6}
    assert set(contents(tmp_path / "other")) == set(first_six)
    assert all(contents(tmp_path / "other")[k] != first_six[k] for k in first_six)
    assert params.root() != other.root() and params.root() != replace(params, long_side=(256, 512)).root()


def test_photo_files_are_photo_sized_textured_jpegs():
    """The default files: a long side of 256-512 px in the stated aspects, baseline JPEGs of tens
    of KB, with detail at fine scales (not flat colour fields)."""
    import io

    import numpy as np
    from PIL import Image

    from bench.data.dataset import draw_file
    from bench.data.photos import ASPECTS

    params = EmbeddedDataset(12, 0, 64, 6)
    blobs = [draw_file(params, "train", i, i % 6) for i in range(12)]
    for blob in blobs:
        with Image.open(io.BytesIO(blob)) as image:
            assert image.format == "JPEG" and image.mode == "RGB"
            width, height = image.size
            assert 256 <= max(width, height) <= 512
            assert min(abs(width / height - a) for a in ASPECTS) < 0.01
            gray = np.asarray(image.convert("L"), np.float32)
        fine = np.abs(np.diff(gray, axis=1)).mean()  # mean neighbour difference: detail at 1 px
        assert fine > 3.0, fine
    assert np.median([len(b) for b in blobs]) > 20_000


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
