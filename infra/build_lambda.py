#!/usr/bin/env python3
"""Build the Lambda deployment zip from a checkout, nothing installed:
``alligator lambda-zip`` run from this repository's copy of the package.

    python infra/build_lambda.py myapp -o build/lambda.zip

Where alligator is installed, ``alligator lambda-zip myapp`` does the same.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    """``alligator lambda-zip ARGS``; returns the exit code (2: bad input)."""
    sys.path.insert(0, str(REPO))
    from alligator.cli import main as alligator

    return alligator(["lambda-zip", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
