"""Signatures and the import allow-list: a message is untrusted input.

Anyone allowed to SendMessage can name any function on the worker's path,
``os.system`` included. The allow-list is checked on module *names* before
anything is imported; the signature is checked before even that.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass

from .exceptions import ConfigurationError

#: What an allow-list prefix may look like: a dotted module path.
PREFIX_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def split_setting(value: str | Iterable[str] | None, env: str) -> tuple[str, ...]:
    """A comma-separated string or a list; the environment when ``None``."""
    if value is None:
        value = os.environ.get(env, "")
    items = value.split(",") if isinstance(value, str) else list(value)
    return tuple(item.strip() for item in items if item and item.strip())


@dataclass(frozen=True)
class Signer:
    """HMAC-SHA256 over the body as sent. Signs with the first key, accepts any.

    Example:
        >>> signer = Signer.from_setting("new-key,old-key")
        >>> signer.verify(body, signer.sign(body))
        True
    """

    keys: tuple[str, ...]

    @classmethod
    def from_setting(cls, value: str | Iterable[str] | None) -> Signer | None:
        """From an argument, else ``ALLIGATOR_SIGNING_KEY``; ``None`` if neither."""
        keys = split_setting(value, "ALLIGATOR_SIGNING_KEY")
        return cls(keys) if keys else None

    def sign(self, body: str) -> str:
        """The hex signature of ``body`` with the first key."""
        return _digest(self.keys[0], body)

    def verify(self, body: str, signature: str | None) -> bool:
        """True if ``signature`` matches ``body`` under any key.

        Constant time, and every key is tried, so the answer's timing says
        nothing about the signature or which key matched. The attribute is
        attacker-controlled: it is compared as bytes, because
        ``compare_digest`` refuses non-ASCII strings with a ``TypeError``.
        """
        if not signature or not isinstance(signature, str):
            return False
        given = signature.encode("utf-8", "surrogatepass")
        matches = [hmac.compare_digest(_digest(k, body).encode(), given) for k in self.keys]
        return any(matches)


def _digest(key: str, body: str) -> str:
    # surrogatepass: a local queue can hold any Python string; SQS bodies are
    # valid Unicode, for which this is plain UTF-8.
    data = body.encode("utf-8", "surrogatepass")
    return hmac.new(key.encode("utf-8"), data, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class ImportAllow:
    """Module prefixes a consumer may import: ``myapp`` allows ``myapp.tasks``.

    Example:
        >>> ImportAllow(("myapp",)).allows("myapplication")
        False
    """

    prefixes: tuple[str, ...]

    @classmethod
    def from_setting(cls, value: str | Iterable[str] | None) -> ImportAllow | None:
        """From an argument, else ``ALLIGATOR_IMPORT_ALLOW``; ``None`` if neither.

        Commas separate prefixes inside list items too (``--import-allow
        a,b`` means ``a`` and ``b``): a module name never holds a comma.

        Raises:
            ConfigurationError: a prefix is not a dotted module path (a
                typo or a glob would otherwise silently refuse everything).
        """
        items = split_setting(value, "ALLIGATOR_IMPORT_ALLOW")
        prefixes = split_setting(",".join(items), "")
        prefixes = tuple(p.rstrip(".") for p in prefixes)
        for prefix in prefixes:
            if not PREFIX_PATTERN.match(prefix):
                raise ConfigurationError(
                    f"import allow-list entry {prefix!r} is not a module path "
                    "(like myapp or myapp.tasks; no wildcards)"
                )
        return cls(prefixes) if prefixes else None

    def allows(self, module: str) -> bool:
        """True if ``module`` is one of the prefixes or inside one."""
        return any(module == p or module.startswith(p + ".") for p in self.prefixes)
