"""Text from messages, made safe to show and to store.

A message is untrusted input: its task id, its error text and its body can
hold control characters (a CR that rewrites a terminal line, an ESC that
starts a colour or cursor sequence) and, on local backends, lone
surrogates that no encoder accepts. These helpers keep the meaning and
drop the danger.
"""

from __future__ import annotations

import functools
import re

#: C0 and C1 control characters, DEL included, but not tab.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")
#: What SQS accepts in a body or attribute: #x9 #xA #xD #x20-#xD7FF
#: #xE000-#xFFFD #x10000-#x10FFFF (so no lone surrogates, no other C0).
#: https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessage.html
_NOT_SQS_PATTERN = "[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"


@functools.cache
def _not_sqs() -> re.Pattern[str]:
    """Compiled at first use: its ranges take 5 ms to compile, a tenth of
    alligator's import time, and most processes never need it."""
    return re.compile(_NOT_SQS_PATTERN)


def printable(text: str) -> str:
    """``text`` with control characters and lone surrogates escaped
    (``\\r``, ``\\x1b``, ``\\ud800``), for a log line or a terminal."""
    if text.isprintable():
        # No control character (category Cc), surrogate (Cs) or
        # noncharacter (Cn): nothing below would change it. Most text is.
        return text
    text = _CONTROL.sub(_escape, text)
    return _not_sqs().sub(_escape, text)


def sqs_safe(text: str) -> str:
    """``text`` with every character SQS refuses escaped, so a dead-letter
    reason built from it can always be sent."""
    return _not_sqs().sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    known = {"\n": "\\n", "\r": "\\r"}
    if char in known:
        return known[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
