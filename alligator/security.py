"""Signatures and the import allow-list: a message is untrusted input.

Anyone allowed to SendMessage can name any function on the worker's path,
``os.system`` included. The allow-list is checked on module *names* before
anything is imported; the signature is checked before even that.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Iterable
from dataclasses import dataclass


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
        """True if ``signature`` matches ``body`` under any key (constant time)."""
        if not signature:
            return False
        matches = [hmac.compare_digest(_digest(k, body), signature) for k in self.keys]
        return any(matches)


def _digest(key: str, body: str) -> str:
    return hmac.new(key.encode(), body.encode(), hashlib.sha256).hexdigest()


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
        """From an argument, else ``ALLIGATOR_IMPORT_ALLOW``; ``None`` if neither."""
        prefixes = split_setting(value, "ALLIGATOR_IMPORT_ALLOW")
        return cls(tuple(p.rstrip(".") for p in prefixes)) if prefixes else None

    def allows(self, module: str) -> bool:
        """True if ``module`` is one of the prefixes or inside one."""
        return any(module == p or module.startswith(p + ".") for p in self.prefixes)
