"""The user-facing error type (`pipelines.errors.PipebenchError`) and the harness's subclasses of it.

The CLI catches `PipebenchError`, prints its one-line message and exits with its
status; nothing else in the library prints or exits.
"""

from __future__ import annotations

from pipelines.errors import PipebenchError, unknown_choice

__all__ = ["PipebenchError", "UnavailableHere", "unknown_choice"]


class UnavailableHere(PipebenchError):
    """A cell this machine cannot run (e.g. mixed_float16 without a GPU): recorded as
    `unavailable` with this message, like a missing framework, rather than `failed`."""
