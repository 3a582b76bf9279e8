"""Variants from outside this package: the modules named in `PIPEBENCH_VARIANTS`.

Each such module registers its variants with `@register`, as the built-in ones do.
The variable is inherited by every cell's process, so a plugin variant runs in a
cell like any other.
"""

from __future__ import annotations

import importlib
import os

from pipelines.errors import PipebenchError

PLUGINS_VARIABLE = "PIPEBENCH_VARIANTS"


def plugin_modules() -> list[str]:
    return [n.strip() for n in os.environ.get(PLUGINS_VARIABLE, "").split(",") if n.strip()]


def load_plugins() -> list[str]:
    """Import the modules named in `PIPEBENCH_VARIANTS` (once each); a bad name is a one-line error."""
    names = plugin_modules()
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001  (any failure of the user's module is reported alike)
            raise PipebenchError(f"{PLUGINS_VARIABLE}: cannot import {name!r} ({exc}); valid: importable "
                                 "module names, comma-separated") from None
    return names
