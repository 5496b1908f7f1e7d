"""The plugin's ``sqs_endpoint`` pointed elsewhere (``ALLIGATOR_TEST_SQS_ENDPOINT``:
LocalStack, real SQS), and without moto installed.

Each case runs a user's tiny test file in a pytest subprocess where moto
cannot be imported, as in a venv without ``alligator[test]``'s moto; with
the variable set, the fixtures must not need it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

USER_TESTS = """
    from alligator import SUCCESS
    from alligator.testing import drain


    def test_enqueue_and_drain(sqs_gator, sqs_endpoint):
        sqs_gator.task(len, "four")
        [task] = drain(sqs_gator)
        assert task.status == SUCCESS and task.result == 4
        print("ENDPOINT", sqs_endpoint)
"""
#: Makes ``import moto`` fail, as if it were not installed.
NO_MOTO = """
    import sys

    for name in ("moto", "moto.server"):
        sys.modules[name] = None
"""


def run_user_tests(tmp_path, **env_vars):
    (tmp_path / "test_user.py").write_text(textwrap.dedent(USER_TESTS))
    (tmp_path / "conftest.py").write_text(textwrap.dedent(NO_MOTO))
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "ALLIGATOR_", "PYTEST_", "PYTHON"))
    }
    env.update(AWS_EC2_METADATA_DISABLED="true", HOME=str(tmp_path), **env_vars)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", "test_user.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_variable_points_the_fixtures_at_another_endpoint(tmp_path, sqs_endpoint):
    # Given another SQS endpoint (here: this session's moto, out of the user's
    # process) and no moto importable in the user's test run
    result = run_user_tests(tmp_path, ALLIGATOR_TEST_SQS_ENDPOINT=sqs_endpoint + "/")
    # Then their test ran there, with no credentials configured (loopback)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"ENDPOINT {sqs_endpoint}\n" in result.stdout
    assert "1 passed" in result.stdout


def test_without_moto_the_fixture_names_the_extra_in_one_line(tmp_path):
    result = run_user_tests(tmp_path)
    assert result.returncode == 1
    # pytest prints the error where it happened and, depending on the
    # terminal's width, again in its short summary: each is the whole line
    errors = [line for line in result.stdout.splitlines() if "alligator[test]" in line]
    assert errors, result.stdout
    for error in errors:
        assert "sqs_endpoint: the embedded SQS endpoint needs moto's server" in error
        assert "pip install 'alligator[test]'" in error
    assert "ModuleNotFoundError" not in result.stdout
    assert "Traceback" not in result.stdout


@pytest.mark.parametrize("value", ["localhost:4566", "ftp://x"])
def test_a_variable_that_is_not_a_url_is_named(tmp_path, value):
    result = run_user_tests(tmp_path, ALLIGATOR_TEST_SQS_ENDPOINT=value)
    assert result.returncode == 1
    assert "ALLIGATOR_TEST_SQS_ENDPOINT must be an http:// or https:// URL" in result.stdout
