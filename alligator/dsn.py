"""DSN parsing, done once, into a frozen value; and the scheme registry.

``sqs://us-east-1/emails?wait_time=5``, ``locmem://``, ``sqlite:///var/q.db``.
Backends are imported lazily, so the core never needs boto3.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

from .exceptions import ConfigurationError

#: scheme -> "module:Class"; imported only when that scheme is used.
BACKENDS = {
    "locmem": "alligator.backends.locmem:LocmemBackend",
    "sqlite": "alligator.backends.sqlite:SqliteBackend",
    "sqs": "alligator.sqs.backend:SQSBackend",
}


@dataclass(frozen=True)
class DSN:
    """A parsed connection string.

    Example:
        >>> parse_dsn("sqs://us-east-1/emails?wait_time=5").options
        {'wait_time': '5'}

    Attributes:
        scheme: ``sqs``, ``locmem``, ``sqlite``, ``dynamodb``...
        host: the part after ``//`` up to the first ``/`` (the SQS region).
        path: the rest, without the leading ``/`` for URL-like schemes; for
            ``sqlite`` the file path exactly as written (1.0 semantics).
        options: the query string, one value per key.
    """

    scheme: str
    host: str = ""
    path: str = ""
    options: dict[str, str] = field(default_factory=dict)
    raw: str = field(default="", compare=False, repr=False)

    def option(self, key: str, default: str | None = None) -> str | None:
        """The option's value, or ``default``."""
        return self.options.get(key, default)

    def with_options(self, **options: Any) -> DSN:
        """This DSN with these options added or replaced (``None`` skipped),
        so a command-line flag can override a DSN option without a second
        parse.

        Example:
            >>> parse_dsn("sqs://us-east-1/q").with_options(wait_time=5).raw
            'sqs://us-east-1/q?wait_time=5'
        """
        chosen = {key: str(value) for key, value in options.items() if value is not None}
        if not chosen:
            return self
        merged = {**self.options, **chosen}
        base = self.raw.split("?", 1)[0] if self.raw else f"{self.scheme}://{self.host}/{self.path}"
        return DSN(self.scheme, self.host, self.path, merged, f"{base}?{urlencode(merged)}")

    def int(self, key: str, default: int, low: int, high: int) -> int:
        """An integer option within ``[low, high]``, or ``default``."""
        value = int_option(self, key, default, low, high)
        return default if value is None else value

    def reject_unknown(self, known: set[str]) -> None:
        """Raise ``ConfigurationError`` naming any option not in ``known``."""
        unknown = sorted(set(self.options) - known)
        if unknown:
            raise ConfigurationError(
                f"unknown option {unknown[0]!r} in {self.scheme}:// DSN; "
                f"known options: {', '.join(sorted(known)) or 'none'}"
            )


#: A URL scheme (RFC 3986): a letter, then letters, digits, ``+``, ``-`` or ``.``.
SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")
EXAMPLES = "e.g. sqs://us-east-1/QUEUE, locmem:// or sqlite:///path/to/queue.db"


def _malformed(dsn: str, head: re.Match[str] | None) -> str:
    """Name what is wrong with a DSN that is not ``scheme://...``.

    A scheme followed by a garbled separator (``sqs:/us-east-1/q``,
    ``sqs//us-east-1/q``, ``sqs:us-east-1/q``) gets the corrected DSN.
    """
    after = dsn[head.end() :] if head else ""
    garbled = re.match(r"(:?/*)", after)
    separator = garbled.group(1) if garbled else ""
    if head is None or not separator or separator == "/":
        return f"malformed DSN {dsn!r}: expected scheme://..., {EXAMPLES}"
    scheme = head.group(0)
    rest = after[len(separator) :]
    if scheme.lower() == "sqlite":  # its path may start with a slash
        hint = "sqlite:///absolute/path.db or sqlite://relative/path.db"
    else:
        hint = f"{scheme}://{rest}"
    return (
        f"malformed DSN {dsn!r}: the scheme {scheme!r} must be followed by '://', "
        f"not {separator!r}; did you mean {hint}?"
    )


def parse_dsn(dsn: str) -> DSN:
    """Parse ``dsn`` into a ``DSN``.

    Raises:
        ConfigurationError: the string is not ``scheme://...`` (naming a
            garbled separator such as ``sqs:/``), or repeats an option.
    """
    if not isinstance(dsn, str):
        raise ConfigurationError(f"malformed DSN {dsn!r}: expected a string, {EXAMPLES}")
    head = SCHEME.match(dsn)
    if head is None or not dsn[head.end() :].startswith("://"):
        raise ConfigurationError(_malformed(dsn, head))
    scheme, rest = head.group(0), dsn[head.end() + 3 :]
    scheme = scheme.lower()
    location, _, query = rest.partition("?")
    pairs = parse_qsl(query, keep_blank_values=True)
    options: dict[str, str] = {}
    for key, value in pairs:
        if key in options:
            raise ConfigurationError(f"option {key!r} is given twice in {dsn!r}")
        options[key] = value
    if scheme == "sqlite":
        return DSN(scheme, "", location, options, dsn)
    host, _, path = location.partition("/")
    return DSN(scheme, host, path, options, dsn)


def backend_class_for(dsn: DSN) -> Any:
    """The backend class registered for ``dsn.scheme``, imported now."""
    return registered_class(BACKENDS, dsn, "scheme")


def registered_class(registry: dict[str, str], dsn: DSN, what: str) -> Any:
    """Import the ``"module:Class"`` that ``registry`` names for ``dsn``'s
    scheme; a missing extra (boto3) becomes a ``ConfigurationError``."""
    target = registry.get(dsn.scheme)
    if target is None:
        raise ConfigurationError(
            f"unknown {what} {dsn.scheme!r} in DSN {dsn.raw!r}; "
            f"known: {', '.join(s + '://' for s in sorted(registry))}"
        )
    module_name, _, class_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigurationError(str(exc)) from exc
    return getattr(module, class_name)


def int_option(dsn: DSN, key: str, default: int | None, low: int, high: int) -> int | None:
    """An integer option within ``[low, high]``, or ``default`` when absent."""
    raw = dsn.options.get(key)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{key} must be a whole number, not {raw!r}") from None
    if not low <= value <= high:
        raise ConfigurationError(f"{key} must be between {low} and {high}, not {value}")
    return value


def bool_option(dsn: DSN, key: str, default: bool = False) -> bool:
    """A true/false option (true, false, 1, 0, yes, no)."""
    raw = dsn.options.get(key)
    if raw is None:
        return default
    lowered = raw.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ConfigurationError(f"{key} must be true or false, not {raw!r}")
