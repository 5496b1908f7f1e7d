"""Queue backends: ``locmem://``, ``sqlite://`` here; SQS in ``alligator.sqs``."""
