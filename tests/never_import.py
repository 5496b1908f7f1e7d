"""A module alligator must refuse by name and never import.

Importing it leaves a trace that survives a failed import: a line in the
file named by ``ALLIGATOR_TEST_IMPORT_LOG`` (when set) and an entry in
``IMPORTS`` below, kept on the ``tests`` package so it outlives this module.
Security tests assert the trace is absent, and one positive control proves
the trace works.
"""

from __future__ import annotations

import os

import tests

#: Every import of this module, in this process (kept on the package).
IMPORTS: list[str] = tests.__dict__.setdefault("never_import_log", [])
IMPORTS.append(__name__)
_log = os.environ.get("ALLIGATOR_TEST_IMPORT_LOG")
if _log:
    with open(_log, "a") as trace:
        trace.write(__name__ + "\n")


def run(*args: object, **kwargs: object) -> str:
    """What a message naming this module would call."""
    return "ran"


def hook(*args: object) -> None:
    """A hook a message might name."""
