"""Operator commands: stats, dlq peek/redrive, local-sqs, demo.

Filled in by the operations work; kept apart from cli.py so each stays small.
"""

from __future__ import annotations

from typing import Any


def add_parsers(commands: Any) -> None:
    """Register the operator subcommands."""
    from . import demo

    demo.add_parsers(commands)
