"""A task that reports what the process running it has imported (for the
tests that check OpenTelemetry stays unimported where it is not wanted)."""

from __future__ import annotations

import sys


def modules(prefix: str) -> list[str]:
    """The imported modules whose name starts with ``prefix``."""
    return sorted(
        name for name, module in sys.modules.items() if name.startswith(prefix) and module
    )
