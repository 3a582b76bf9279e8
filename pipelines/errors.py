"""The one user-facing error type, defined here so that the variant library needs nothing of the harness.

Library code raises `PipebenchError` with a one-line message that names the
problem and, where there is a finite set, the valid choices. The CLI catches it,
prints the message and exits with status 2; nothing else prints or exits.
`bench.errors` re-exports it (with the harness's own subclasses).
"""

from __future__ import annotations

from collections.abc import Iterable


class PipebenchError(Exception):
    """A problem with the user's input or environment, reported without a traceback."""

    exit_status = 2


def unknown_choice(what: str, value: object, choices: Iterable[object]) -> PipebenchError:
    """Build the error for a value that is not one of a known set."""
    valid = ", ".join(str(c) for c in choices)
    return PipebenchError(f"unknown {what} {value!r}; valid choices: {valid}")
