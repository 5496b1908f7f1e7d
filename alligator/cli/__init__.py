"""The ``alligator`` command (and 1.0's ``latergator``).

Exit codes: 0 clean stop, 2 usage or configuration error (one line, no
traceback), 1 anything else. Each subcommand lives in a module of its own
and registers itself with ``add_parsers``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from .._text import printable
from ..exceptions import (
    AlligatorException,
    ConfigurationError,
    NotSupportedError,
    PayloadTooLargeError,
    UnknownCallableError,
    UnknownModuleError,
    UnserializableTaskError,
)

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
#: Errors that mean "you asked for something wrong": exit 2, one line.
USAGE_ERRORS = (
    ConfigurationError,
    NotSupportedError,
    UnserializableTaskError,
    PayloadTooLargeError,
    UnknownModuleError,
    UnknownCallableError,
    ValueError,
)


class UsageError(AlligatorException):
    """A bad argument the parser could not catch by itself."""


class HelpFormatter(argparse.HelpFormatter):
    """Each option's default at the end of its help, unless the help says
    it already or there is none to say (None, a flag's False)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (
            not action.option_strings
            or action.nargs == 0
            or any(action.default is nothing for nothing in (None, False, argparse.SUPPRESS))
            or "default" in text
        ):
            return text
        return f"{text} (default: %(default)s)"


class Parser(argparse.ArgumentParser):
    """argparse with the contract's one-line errors (no usage block), and
    every option's default in its help.

    ``intermixed=True`` lets positionals sit between options
    (``alligator worker HIGH --concurrency 4 LOW``): plain argparse takes
    only the first run of DSNs and refuses the rest as unrecognised.
    """

    def __init__(self, *args: object, intermixed: bool = False, **kwargs: object) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._intermixed = intermixed
        self._intermixing = False

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: Any = None
    ) -> tuple[Any, list[str]]:
        if not self._intermixed or self._intermixing:
            return super().parse_known_args(args, namespace)
        # (parse_known_intermixed_args calls parse_known_args twice itself.)
        self._intermixing = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._intermixing = False

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message} (see --help)", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version (0) or a usage error (2)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if not getattr(args, "handler", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    _import_from_cwd()
    return run(args.handler, args)


def latergator(argv: Sequence[str] | None = None) -> int:
    """1.0's script: ``latergator DSN`` is ``alligator worker DSN``."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    return main(["worker", *arguments])


def run(handler: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Call a subcommand, mapping errors to one line and an exit code."""
    try:
        return handler(args) or EXIT_OK
    except (*USAGE_ERRORS, UsageError) as exc:
        print(f"alligator: error: {printable(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_OK
    except Exception as exc:
        print(f"alligator: error: {type(exc).__name__}: {printable(str(exc))}", file=sys.stderr)
        return EXIT_ERROR


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, with one sub-parser per command."""
    from .. import __version__
    from . import dev, ops, worker

    parser = Parser(
        prog="alligator",
        description="A task queue for Amazon SQS: run workers, enqueue tasks, operate queues.",
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"alligator {__version__}",
        help="print the version and exit",
    )
    commands = parser.add_subparsers(metavar="COMMAND", parser_class=Parser)
    worker.add_parsers(commands)
    ops.add_parsers(commands)
    dev.add_parsers(commands)
    _add_optional(commands)
    return parser


def _add_optional(commands: argparse._SubParsersAction) -> None:
    """Subcommands of optional parts, registered when their module is there."""
    for module in ("schedule", "dashboard"):
        try:
            imported = __import__(f"{__name__}.{module}", fromlist=["add_parsers"])
        except ImportError:
            continue
        imported.add_parsers(commands)


def _import_from_cwd() -> None:
    """Make modules in the working directory importable, as ``python -m``
    does: a console script's ``sys.path[0]`` is its own bin directory, so
    ``alligator enqueue DSN myapp.tasks:f`` (and a worker importing
    ``myapp``) would otherwise fail where ``python -m alligator`` works."""
    cwd = os.getcwd()
    if "" not in sys.path and cwd not in sys.path:
        sys.path.insert(0, cwd)
