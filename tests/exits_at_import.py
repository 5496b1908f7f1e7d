"""A module that calls ``sys.exit(3)`` while it is imported, as a package's
``__main__`` does. Only a consumer may import it (a worker, the Lambda
handler, in tests/integration/test_hostile_tasks.py and
tests/test_lambda_records.py): the import must fail that run, never stop
the consumer.
"""

import sys

sys.exit(3)


def run() -> str:  # never reached: what a message names
    return "ran"
