"""Fuzzing the message decoder: whatever arrives, ``wire.decode`` returns a
checked task dict or raises ``PoisonMessageError``, and the processor turns
it into an outcome without raising and without importing a refused module.
"""

from __future__ import annotations

import json
import math
import sys

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tests
from alligator import wire
from alligator.backends.base import Received
from alligator.backends.locmem import LocmemBackend
from alligator.consume import ConsumerConfig, Processor
from alligator.exceptions import PoisonMessageError
from alligator.outcome import Action
from alligator.retries import Backoff
from alligator.security import ImportAllow
from tests import tasks

NEVER = "tests.never_import"
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

#: Any JSON value, nested a little.
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
modules = st.sampled_from(["tests.tasks", NEVER, "os", "tests", "", "a..b", "1x", "tests.tasks "])
targets = st.fixed_dictionaries({"module": modules, "callable": st.sampled_from(["count", "run"])})
#: A right value for every key of a task body.
VALID = {
    "task_id": st.text(min_size=1, max_size=40),
    "retries": st.integers(min_value=0, max_value=3),
    "async": st.booleans(),
    "is_async": st.booleans(),
    "module": modules,
    "callable": st.sampled_from(["count", "run", "no_such"]),
    "args": st.lists(json_values, max_size=3),
    "kwargs": st.dictionaries(st.sampled_from(["key", "x"]), json_values, max_size=2),
}
VALID_OPTIONS = {
    "on_start": targets,
    "on_success": targets,
    "on_error": targets,
    "delay_until": st.floats(min_value=0, max_value=2e9),
    "depends_on": st.lists(st.text(max_size=8), max_size=2),
}
#: Wrong values, but never another real function of tests.tasks (some
#: sleep or write files): strings naming one are left out.
wrong_values = json_values.filter(lambda v: not (isinstance(v, str) and hasattr(tasks, v)))


@st.composite
def near_valid(draw: st.DrawFn) -> dict:
    """A valid task body with a few keys (top level or in options) made
    wrong: any JSON value instead, usually of the wrong type, or missing."""
    data = {key: draw(strategy) for key, strategy in VALID.items()}
    options = {key: draw(strategy) for key, strategy in VALID_OPTIONS.items()}
    for key in draw(st.sets(st.sampled_from([*VALID, *VALID_OPTIONS]), max_size=3)):
        place = data if key in VALID else options
        if draw(st.booleans()):
            place[key] = draw(wrong_values)
        else:
            del place[key]
    # Options themselves: usually an object, sometimes anything at all.
    data["options"] = draw(st.just(options) | wrong_values | st.just({}))
    return data


def decoded_or_poison(body: str | bytes) -> dict | None:
    """``decode``'s answer, or None for poison; any other error fails."""
    try:
        data = wire.decode(body)
    except PoisonMessageError as exc:
        assert str(exc)  # every refusal says why
        return None
    assert_checked(data)
    return data


def assert_checked(data: dict) -> None:
    """What a decoded task dict guarantees to the code that imports it."""
    assert isinstance(data["task_id"], str) and data["task_id"]
    assert type(data["retries"]) is int and data["retries"] >= 0
    assert any(isinstance(data.get(k), bool) for k in ("async", "is_async"))
    for module in wire.modules_named(data):
        assert wire.MODULE_PATTERN.match(module)
    assert isinstance(data.get("args", []), list)
    assert isinstance(data.get("kwargs", {}), dict)
    delay = (data.get("options") or {}).get("delay_until")
    assert delay is None or (not isinstance(delay, bool) and math.isfinite(delay))


@FUZZ
@given(st.text())
def test_any_text_decodes_or_is_poison(body):
    decoded_or_poison(body)


@FUZZ
@given(st.binary())
def test_any_bytes_decode_or_are_poison(body):
    decoded_or_poison(body)


@FUZZ
@given(json_values)
def test_any_json_value_decodes_or_is_poison(value):
    decoded_or_poison(json.dumps(value))


@FUZZ
@given(near_valid())
def test_near_valid_dicts_with_wrong_types_decode_or_are_poison(data):
    decoded_or_poison(json.dumps(data))


@FUZZ
@given(near_valid(), st.sampled_from(["[", "{", " ", "\x00", "NaN", "1e999", "]]"]))
def test_broken_json_around_near_valid_dicts_is_poison_not_a_crash(data, junk):
    text = json.dumps(data)
    for body in (junk + text, text + junk, text[: len(text) // 2]):
        decoded_or_poison(body)


@given(st.integers(min_value=1, max_value=200_000), st.sampled_from(["[", '{"a":', '[{"b":']))
@settings(max_examples=25, deadline=None)
def test_nesting_of_any_depth_is_poison(depth, opener):
    assert decoded_or_poison(opener * depth) is None


def test_huge_numbers_and_whitespace_are_poison():
    for body in ("9" * 5000, "-" + "9" * 100_000, " " * 3_000_000, "\n\t " * 500_000):
        assert decoded_or_poison(body) is None
    huge = json.dumps({"task_id": "t", "retries": 10**4000 // 10**3990, "async": True})
    assert decoded_or_poison(huge) is None  # retries 10**10: out of range


@FUZZ
@given(near_valid())
def test_the_processor_never_raises_and_never_imports_a_refused_module(data):
    # Given a consumer allowed only tests.tasks, on a local queue
    backend = LocmemBackend("locmem://")
    config = ConsumerConfig(import_allow=ImportAllow(("tests.tasks",)), backoff=Backoff.IMMEDIATE)
    processor = Processor(backend, config)
    message = Received(body=json.dumps(data), message_id="m", receipt="r")
    try:
        # When it handles anything at all
        outcome = processor.handle(message)
    finally:
        backend.close()
    # Then it decides (a task that fails is retried or dead, not raised),
    # and never.import was never imported
    assert outcome.action in set(Action)
    if outcome.action is Action.DEAD and outcome.task is None:
        assert outcome.error.startswith("PoisonMessageError: ")
    assert NEVER not in sys.modules
    assert not tests.__dict__.get("never_import_log")
