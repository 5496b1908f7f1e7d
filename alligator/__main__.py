"""``python -m alligator``: the same as the ``alligator`` command."""

from .cli import main

raise SystemExit(main())
