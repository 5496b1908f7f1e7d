"""The SQS adapter: ``SQSBackend`` (and, in ``lambda_handler``, the Lambda
entry point). Needs boto3: ``pip install 'alligator[sqs]'``."""

from __future__ import annotations

try:
    import boto3  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised without boto3
    raise ImportError("alligator's SQS backend needs boto3: pip install 'alligator[sqs]'") from exc

from .backend import SQSBackend

__all__ = ["SQSBackend"]
