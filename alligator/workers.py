"""1.0's import path: ``from alligator.workers import Worker``."""

from __future__ import annotations

from .worker import Worker

__all__ = ["Worker"]
