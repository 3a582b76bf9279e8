"""`DataSpec`: the files, labels and class map that every variant is fed, identically."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class DataSpec:
    """The files, labels and image size that every variant delivers identically.

    Labels index `class_names`, which is sorted (the order Keras' directory
    loaders use). `train_dir` is a folder of links holding exactly the train
    files, one subfolder per class, for the loaders that only take a directory.
    """

    class_names: tuple[str, ...]
    train_files: tuple[str, ...]
    train_labels: tuple[int, ...]
    val_files: tuple[str, ...]
    val_labels: tuple[int, ...]
    image_size: tuple[int, int]
    train_dir: str
    source: str

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def fingerprint(self) -> dict:
        """File count, total bytes and a hash of paths and sizes: detects a changed dataset."""
        files = self.train_files + self.val_files
        digest = hashlib.sha256()
        total = 0
        for path in files:
            size = os.path.getsize(path)
            total += size
            digest.update(f"{path}\0{size}\n".encode())
        return {
            "source": self.source,
            "num_files": len(files),
            "num_train": len(self.train_files),
            "num_val": len(self.val_files),
            "num_classes": self.num_classes,
            "total_bytes": total,
            "sha256": digest.hexdigest()[:16],
        }

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> DataSpec:
        raw = json.loads(text)
        tuples = {k: tuple(v) for k, v in raw.items() if isinstance(v, list)}
        return cls(**{**raw, **tuples})
