"""Whether an NVIDIA GPU is present, asked of `nvidia-smi` (standard library only).

The parent process imports no framework, and `noxfile.py` chooses TensorFlow's build
with the same question before any package is installed.
"""

from __future__ import annotations

import shutil
import subprocess


def nvidia_gpu_present() -> bool:
    """Whether `nvidia-smi -L` lists a GPU."""
    if not shutil.which("nvidia-smi"):
        return False
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and "GPU" in out.stdout
