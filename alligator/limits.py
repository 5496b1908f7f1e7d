"""Every AWS quota alligator works within, each defined once.

The local backends use the same numbers, so a DSN and a task tried on a
laptop behave the same on SQS.
"""

from __future__ import annotations

#: One receive returns at most 10 messages; batch requests take 10 entries.
#: https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-messages.html
MAX_BATCH_ENTRIES = 10
#: Long polls last at most 20 seconds.
#: https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ReceiveMessage.html
MAX_WAIT_SECONDS = 20
#: A message stays in flight (hidden) at most 12 hours in all.
#: https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-visibility-timeout.html
MAX_VISIBILITY_SECONDS = 43_200
#: The longest per-message delay on a standard queue; FIFO queues take none.
#: https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-delay-queues.html
MAX_DELAY_SECONDS = 900
#: The largest message, body and attributes together: 1 MiB.
#: https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-messages.html
MAX_MESSAGE_BYTES = 1_048_576
#: A message carries at most 10 message attributes.
#: https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-message-metadata.html
MAX_MESSAGE_ATTRIBUTES = 10
#: The longest FIFO deduplication id (and message group id).
#: https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessage.html
MAX_DEDUP_ID_CHARS = 128
#: SQS keeps a message at most 14 days from its first send, 4 by default.
#: https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SetQueueAttributes.html
MAX_RETENTION_SECONDS = 1_209_600
DEFAULT_RETENTION_SECONDS = 345_600
