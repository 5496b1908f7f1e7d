"""Admitting a message: everything that must say yes before anything is
imported, in this order, so an untrusted body reaches no code it names:

1. the signature over the body as sent (the S3 pointer, when offloaded);
2. the payload: a pointer is followed only into the consumer's own bucket,
   and only below its size cap (``Payloads.load`` refuses the rest);
3. the signature over the payload itself, when it was offloaded;
4. the wire format (``wire.decode``: shape, limits, no dunder names);
5. the import allow-list, on module names.
"""

from __future__ import annotations

from typing import Any

from ..backends.base import Payloads, Received
from ..exceptions import AlligatorException, PoisonMessageError
from ..wire import PAYLOAD_SIGNATURE_ATTRIBUTE, SIGNATURE_ATTRIBUTE, decode, modules_named
from .config import ConsumerConfig


def admit(message: Received, payloads: Payloads, config: ConsumerConfig) -> dict[str, Any]:
    """The checked task data of a message, with nothing imported.

    Raises:
        PoisonMessageError: the message must never run; says why.
        Exception: the payload could not be fetched for a reason that is
            not the message's (S3 throttled or unreachable): try later.
    """
    signer = config.signer
    if signer is not None and not signer.verify(
        message.body, message.attributes.get(SIGNATURE_ATTRIBUTE)
    ):
        state = "missing" if not message.attributes.get(SIGNATURE_ATTRIBUTE) else "wrong"
        raise PoisonMessageError(f"signature is {state}")
    try:
        body = payloads.load(message.body)
    except PoisonMessageError:
        raise
    except AlligatorException as exc:
        raise PoisonMessageError(f"payload cannot be loaded: {exc}") from exc
    if signer is not None and payloads.is_offloaded(message.body):
        signature = message.attributes.get(PAYLOAD_SIGNATURE_ATTRIBUTE)
        if not signer.verify(body, signature):
            state = "missing" if not signature else "wrong"
            raise PoisonMessageError(f"payload signature is {state}")
    data = decode(body)
    allow = config.import_allow
    if allow is not None:
        for module in modules_named(data):
            if not allow.allows(module):
                raise PoisonMessageError(f"module {module!r} is not in the import allow-list")
    return data
