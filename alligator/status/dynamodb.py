"""A status store on DynamoDB: ``dynamodb://REGION/TABLE?create=true``.

The store for SQS fleets: every consumer, ECS task or Lambda, sees one
table. Each state change is one ``UpdateItem`` with a ``ConditionExpression``
carrying exactly the rules of the SQLite store (``local.py``), so two
consumers holding copies of one message cannot both claim it. Records carry
``expires_at`` and the table's TTL removes them after ``ttl_days``.

Options: ``endpoint_url`` (moto, LocalStack, a VPC endpoint), ``create``
(create the table, on-demand billing, TTL on), ``ttl_days`` (default 30;
0 keeps records forever).
"""

from __future__ import annotations

import re
import threading
import time
from typing import Any

try:
    import boto3  # noqa: F401  (the friendly error below)
    from botocore.exceptions import ClientError
except ImportError as exc:  # pragma: no cover - exercised without boto3
    raise ImportError(
        "alligator's DynamoDB status store needs boto3: pip install 'alligator[sqs]'"
    ) from exc

from .._aws import (
    client_config,
    error_code,
    session_for,
)
from ..constants import TaskStatus
from ..dsn import DSN, bool_option, int_option
from ..exceptions import ConfigurationError
from ._dynamodb_table import ensure_table, table_errors
from .base import (
    MAX_ERROR_CHARS,
    Claim,
    Dependencies,
    TaskState,
    Verdict,
    decode_result,
    dependency_verdict,
    encode_result,
)

#: The options a ``dynamodb://`` DSN may carry.
OPTIONS = {"endpoint_url", "create", "ttl_days"}
#: Days a record lives after its last change, unless ``ttl_days`` says.
DEFAULT_TTL_DAYS = 30
#: Keys per BatchGetItem, DynamoDB's limit.
#: https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchGetItem.html
MAX_BATCH_GET = 100
#: The largest JSON result kept: an item may not exceed 400 KB, and a
#: success that cannot be recorded would be run again.
#: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html
MAX_RESULT_BYTES = 350_000
#: Seconds per request: status calls are small, and a stuck one holds a task.
READ_TIMEOUT_SECONDS = 20
#: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.NamingRulesDataTypes.html
TABLE_NAME = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")

# The rules of local.py's SQL, as (SET, condition, REMOVE) of one UpdateItem
# each. Every attribute is a #name (STATUS, RESULT and friends are reserved
# words) and every status a :value from _STATUS_VALUES.
_NEW = "attribute_not_exists(#task_id)"
_LEASE_FREE = (
    "(attribute_not_exists(#lease_owner) OR #lease_owner = :owner OR #lease_until <= :now)"
)
_LEASE = "#lease_owner, #lease_until"
_CREATED = ("#status = :status", _NEW, "")
_CLAIM = (
    "#status = :running, #lease_owner = :owner, #lease_until = :until, "
    "#attempts = if_not_exists(#attempts, :zero) + :one",
    f"{_NEW} OR (NOT #status IN (:success, :canceled) AND {_LEASE_FREE})",
    "",
)
_RENEW = ("#lease_until = :until", "#lease_owner = :owner AND #status = :running", "")
_SUCCEEDED = (
    "#status = :success, #result = :result",
    f"{_NEW} OR #status <> :canceled",
    f"{_LEASE}, #error",
)
_FAILED = ("#status = :status, #error = :error", _CLAIM[1], _LEASE)
_WAITING = (
    "#status = :status",
    f"{_NEW} OR (NOT #status IN (:success, :failed, :canceled) "
    "AND (attribute_not_exists(#lease_until) OR #lease_until <= :now))",
    _LEASE,
)
_CANCEL = (
    "#status = :canceled",
    f"{_NEW} OR NOT #status IN (:success, :failed)",
    _LEASE,
)
_STATUS_VALUES = {f":{status.name.lower()}": int(status) for status in TaskStatus}


def _attribute(value: str | float) -> dict[str, str]:
    """A low-level attribute value: strings as S, numbers as N (no Decimal)."""
    if isinstance(value, str):
        return {"S": value}
    return {"N": repr(value) if isinstance(value, float) else str(value)}


def _number(item: dict[str, Any], name: str, default: float = 0) -> float:
    return float(item[name]["N"]) if name in item else default


class DynamoDBStatusStore:
    """Task states in a DynamoDB table keyed by ``task_id`` (a string).

    Example:
        >>> gator = Gator("sqs://us-east-1/emails",
        ...               status="dynamodb://us-east-1/alligator?create=true")
        >>> gator.status(task.task_id).to_dict()["status"]
        'success'

    Args:
        dsn: ``dynamodb://REGION/TABLE?endpoint_url=…&create=true&ttl_days=30``.

    Raises:
        ConfigurationError: a malformed DSN or an unknown option, here; a
            missing table (without ``create=true``) or refused credentials
            at first use. Nothing touches the network before first use.
    """

    def __init__(self, dsn: DSN) -> None:
        dsn.reject_unknown(OPTIONS)
        if not dsn.host:
            raise ConfigurationError(
                "the dynamodb:// DSN names no region: use dynamodb://REGION/TABLE"
            )
        if not TABLE_NAME.match(dsn.path):
            raise ConfigurationError(
                f"{dsn.path!r} is not a valid DynamoDB table name: 3-255 letters, "
                "digits, '_', '-' or '.' (dynamodb://REGION/TABLE)"
            )
        self.region, self.table = dsn.host, dsn.path
        self.create = bool_option(dsn, "create")
        ttl_days = int_option(dsn, "ttl_days", DEFAULT_TTL_DAYS, 0, 36500)
        self.ttl_seconds = 86400 * (ttl_days or 0)
        endpoint_url = dsn.option("endpoint_url")
        try:
            self.client: Any = session_for(endpoint_url, "dynamodb").client(
                "dynamodb",
                region_name=self.region,
                endpoint_url=endpoint_url,
                config=client_config(READ_TIMEOUT_SECONDS),
            )
        except ValueError as exc:  # botocore: "Invalid endpoint: …"
            raise ConfigurationError(
                f"endpoint_url must be an http:// or https:// URL, not {endpoint_url!r}"
            ) from exc
        # Without create=true there is nothing to check up front: a missing
        # table shows as ResourceNotFoundException on first use, and the
        # store needs no DescribeTable permission.
        self._ready = not self.create
        self._ready_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"DynamoDBStatusStore(table={self.table!r}, region={self.region!r})"

    def _errors(self) -> Any:
        """Errors the user must fix become one-line ``ConfigurationError``."""
        return table_errors(self.table, self.region)

    def _ensure_table(self) -> None:
        """With ``create=true``, create the table (once) if it is missing."""
        if self._ready:
            return
        with self._ready_lock, self._errors():
            if not self._ready:
                ensure_table(self.client, self.table)
                self._ready = True

    def _update(
        self, task_id: str, rule: tuple[str, str, str], **values: str | float
    ) -> tuple[bool, dict[str, Any] | None]:
        """One conditional ``UpdateItem`` by ``rule``; ``values`` are ``:name``s.

        Returns:
            ``(True, new item)`` when applied; ``(False, old item)`` when the
            condition refused it (``None`` for an unknown id, or from an
            endpoint that does not return the old item).
        """
        sets, condition, removes = rule
        values.setdefault("now", time.time())
        expression = f"SET {sets}, #updated_at = :now, "
        expression += "#created_at = if_not_exists(#created_at, :now)"
        if self.ttl_seconds:
            expression += ", #expires_at = :expires"
            values["expires"] = int(values["now"]) + self.ttl_seconds
        if removes:
            expression += f" REMOVE {removes}"
        # DynamoDB refuses names and values the expressions do not use.
        used = set(re.findall(r"[#:]\w+", expression + " " + condition))
        offered = {**_STATUS_VALUES, **{f":{k}": v for k, v in values.items()}}
        self._ensure_table()
        with self._errors():
            try:
                answer = self.client.update_item(
                    TableName=self.table,
                    Key={"task_id": {"S": task_id}},
                    UpdateExpression=expression,
                    ConditionExpression=condition,
                    ExpressionAttributeNames={n: n[1:] for n in used if n[0] == "#"},
                    ExpressionAttributeValues={
                        k: _attribute(v) for k, v in offered.items() if k in used
                    },
                    ReturnValues="ALL_NEW",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
            except ClientError as exc:
                if error_code(exc) != "ConditionalCheckFailedException":
                    raise
                old: dict[str, Any] | None = exc.response.get("Item")  # type: ignore[assignment]
                return False, old
        return True, answer.get("Attributes", {})

    def _item(self, task_id: str) -> dict[str, Any] | None:
        self._ensure_table()
        with self._errors():
            key = {"task_id": {"S": task_id}}
            answer = self.client.get_item(TableName=self.table, Key=key, ConsistentRead=True)
        return answer.get("Item")

    # -- the StatusStore protocol -------------------------------------------

    def created(self, task_id: str, *, delayed: bool = False) -> None:
        """Record a task just enqueued (WAITING or DELAYED) unless it is known."""
        status = TaskStatus.DELAYED if delayed else TaskStatus.WAITING
        self._update(task_id, _CREATED, status=int(status))

    def get(self, task_id: str) -> TaskState | None:
        """The task's state (a strongly consistent read), or ``None``."""
        item = self._item(task_id)
        if item is None:
            return None
        return TaskState(
            task_id=task_id,
            status=TaskStatus(int(item["status"]["N"])),
            attempts=int(_number(item, "attempts")),
            result=decode_result(item.get("result", {}).get("S")),
            error=item.get("error", {}).get("S"),
            created_at=_number(item, "created_at"),
            updated_at=_number(item, "updated_at"),
        )

    def claim(self, task_id: str, *, owner: str, lease_seconds: int) -> Claim:
        """Take the task's lease to run it, counting one more attempt.

        An unknown id is claimed too: a message can arrive for a task the
        store never saw (enqueued by a 1.0 producer).

        Returns:
            RUN with the attempt number; DONE if it already succeeded;
            CANCELED; BUSY while another owner's lease is alive.
        """
        now = time.time()
        until = now + lease_seconds
        applied, item = self._update(
            task_id, _CLAIM, owner=owner, now=now, until=until, zero=0, one=1
        )
        if applied and item:
            return Claim(Verdict.RUN, int(item["attempts"]["N"]))
        if item is None:  # the endpoint did not return the refusing item
            item = self._item(task_id) or {}
        status = _number(item, "status", -1)
        if status == TaskStatus.SUCCESS:
            return Claim(Verdict.DONE)
        if status == TaskStatus.CANCELED:
            return Claim(Verdict.CANCELED)
        return Claim(Verdict.BUSY)

    def renew(self, task_id: str, *, owner: str, lease_seconds: int) -> None:
        """Extend our lease (the heartbeat); a lease we lost stays lost."""
        self._update(task_id, _RENEW, owner=owner, until=time.time() + lease_seconds)

    def succeeded(self, task_id: str, *, owner: str, result: Any) -> None:
        """SUCCESS with its JSON result (a ``repr`` if not JSON); the lease ends.

        Recorded even if another consumer took the task over after our lease
        expired (the work is done either way), but never over a cancel.
        """
        encoded = encode_result(result)
        if len(encoded.encode()) > MAX_RESULT_BYTES:
            # Recording the success matters more than its value: a success
            # that cannot be written would be run again.
            encoded = encode_result(
                f"<result of {len(encoded)} characters not stored: over the "
                "DynamoDB item size limit>"
            )
        self._update(task_id, _SUCCEEDED, result=encoded)

    def failed(self, task_id: str, *, owner: str, error: str, final: bool) -> None:
        """FAILED when ``final``, else RETRYING; the lease ends.

        Never over a finished task, nor over another consumer's live run.
        """
        status = TaskStatus.FAILED if final else TaskStatus.RETRYING
        error = error[:MAX_ERROR_CHARS]
        self._update(task_id, _FAILED, status=int(status), error=error, owner=owner)

    def waiting(self, task_id: str, *, delayed: bool) -> None:
        """Back to WAITING (or DELAYED) after a deferral; no attempt counted.

        Never over a finished task, nor over a duplicate's live run.
        """
        status = TaskStatus.DELAYED if delayed else TaskStatus.WAITING
        self._update(task_id, _WAITING, status=int(status))

    def cancel(self, task_id: str) -> bool:
        """CANCELED unless it already finished; ``True`` if now canceled.

        An unknown id is recorded as CANCELED, so a cancel that races ahead
        of the enqueue still wins.
        """
        applied, _ = self._update(task_id, _CANCEL)
        return applied

    def dependencies(self, task_ids: list[str]) -> tuple[Dependencies, str | None]:
        """READY, WAITING, or FAILED with the id of the dependency that failed."""
        unique = list(dict.fromkeys(task_ids))  # BatchGetItem refuses repeats
        statuses: dict[str, int] = {}
        for start in range(0, len(unique), MAX_BATCH_GET):
            statuses.update(self._statuses(unique[start : start + MAX_BATCH_GET]))
        return dependency_verdict(unique, statuses)

    def _statuses(self, task_ids: list[str]) -> dict[str, int]:
        """Statuses of up to 100 tasks (consistent reads)."""
        self._ensure_table()
        keys = [{"task_id": {"S": task_id}} for task_id in task_ids]
        request: dict[str, Any] = {self.table: {"Keys": keys, "ConsistentRead": True}}
        found: dict[str, int] = {}
        while request:
            with self._errors():
                answer = self.client.batch_get_item(RequestItems=request)
            for item in answer.get("Responses", {}).get(self.table, []):
                found[item["task_id"]["S"]] = int(item["status"]["N"])
            # Throttled keys come back unprocessed; botocore already backed
            # off on the request itself, so asking again at once is fine.
            request = answer.get("UnprocessedKeys") or {}
        return found

    def close(self) -> None:
        """Close the HTTP connections."""
        self.client.close()
