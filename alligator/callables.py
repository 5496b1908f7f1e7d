"""What can be called: the path a worker imports a function by, importing
it back, calling a hook, running a coroutine, and naming the argument that
cannot travel as JSON.
"""

from __future__ import annotations

import concurrent.futures
import importlib
import inspect
import json
import logging
import sys
from collections.abc import Callable
from typing import Any

from .exceptions import (
    TimeLimitExceeded,
    UnknownCallableError,
    UnknownModuleError,
    UnserializableTaskError,
)

log = logging.getLogger("alligator")

Hook = Callable[..., Any]


def callable_path(func: Any, *, for_worker: bool = False) -> tuple[str, str]:
    """``(module, name)`` a worker can import ``func`` by, or a clear refusal."""
    if not callable(func):
        raise UnserializableTaskError(f"{func!r} is not callable")
    if inspect.ismethod(func):
        raise UnserializableTaskError(
            f"{describe(func)} is a bound method; a worker can only import "
            "module-level functions: move it to module level"
        )
    module = getattr(func, "__module__", None)
    qualname = getattr(func, "__qualname__", None) or ""
    name = getattr(func, "__name__", None) or ""
    if name == "<lambda>":
        raise UnserializableTaskError(
            f"a lambda (in {module}) cannot be imported by a worker: use a module-level function"
        )
    if "<locals>" in qualname:
        raise UnserializableTaskError(
            f"{module}.{qualname} is a local function or closure; a worker can "
            "only import module-level functions"
        )
    if not module or not name or qualname != name:
        raise UnserializableTaskError(
            f"{func!r} is not a module-level function a worker can import"
        )
    if for_worker and module == "__main__":
        raise UnserializableTaskError(
            f"{name} is defined in __main__, which a worker cannot import: "
            "move it to an importable module"
        )
    loaded = sys.modules.get(module)
    if loaded is not None and getattr(loaded, name, None) is not func:
        raise UnserializableTaskError(
            f"{module}.{name} does not refer to this function (is it decorated "
            "or renamed?); a worker would call something else"
        )
    return module, name


def import_attr(module_name: str, name: str) -> Callable[..., Any]:
    """Import ``module_name`` and return its callable ``name``.

    Raises:
        UnknownModuleError: the module cannot be imported.
        UnknownCallableError: it has no such callable.
    """
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # an import can fail in any way; none may escape
        raise UnknownModuleError(
            f"cannot import module {module_name!r}: {type(exc).__name__}: {exc}"
        ) from exc
    func = getattr(module, name, None)
    if func is None or not callable(func):
        raise UnknownCallableError(f"module {module_name!r} has no callable {name!r}")
    found: Callable[..., Any] = func
    return found


def call_hook(hook: Hook, task: Any, value: Any) -> None:
    """Call a hook; what it raises is logged, never raised: the run's own
    outcome stands."""
    try:
        hook(task, value)
    except BaseException:
        log.exception("hook %s of task %s raised", describe(hook), task.task_id)


def run_awaitable(awaitable: Any, *, time_limit: float | None = None) -> Any:
    """Run a coroutine to completion, even from inside a running event loop;
    at ``time_limit`` seconds it is cancelled and ``TimeLimitExceeded`` raised.
    """
    import asyncio  # here: only coroutine tasks need it (about 10 ms of start-up)

    async def wait() -> Any:
        if time_limit is None:
            return await awaitable
        try:
            return await asyncio.wait_for(awaitable, time_limit)
        except TimeoutError:
            raise TimeLimitExceeded(f"cancelled at its time limit of {time_limit:g} s") from None

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(wait())
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, wait()).result()


def dumps_naming_culprit(data: dict[str, Any], name: str, func: Any) -> str:
    try:
        return json.dumps(data, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError):
        pass
    names = parameter_names(func, len(data["args"]))
    places = [(f"argument {i}{names[i]}", v) for i, v in enumerate(data["args"])]
    places += [(f"keyword argument {k!r}", v) for k, v in data["kwargs"].items()]
    for where, value in places:
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise UnserializableTaskError(
                f"{where} of {name} is not JSON-serialisable ({type(value).__name__}: {exc})"
            ) from None
    raise UnserializableTaskError(f"task {name} is not JSON-serialisable")


def parameter_names(func: Any, count: int) -> list[str]:
    """`` ('b')`` for each positional argument whose parameter has a name."""
    try:
        parameters = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):
        parameters = []
    positional = [
        p.name for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    return [f" ({positional[i]!r})" if i < len(positional) else "" for i in range(count)]


def describe(func: Any) -> str:
    module = getattr(func, "__module__", "?")
    return f"{module}.{getattr(func, '__qualname__', repr(func))}"
