"""The package as a user gets it: the wheel and the sdist are built, the wheel
is installed into fresh venvs, and the README's quick start is followed word
by word in one of them.

- The wheel: LICENSE, ``py.typed``, the console scripts, the version, and no
  development tool among its dependencies, core, ``sqs`` or ``test``.
- With no extra: ``import alligator`` imports no boto3; ``locmem://`` works;
  SQS and ``local-sqs`` say in one line which extra to install.
- With ``[sqs]`` only: boto3 and its own dependencies, nothing else.
- The quick start, its commands run as written, in that venv: only the
  package's source in the install line is this test's wheel instead of git.
- The sdist: the tests, Makefile, CI script and the files tests read; its
  tests collect and run.

Packages come from a wheelhouse in the dev venv (``.venv/wheelhouse-*``),
filled once by ``pip download`` and read with ``--no-index`` after that, so
a second run needs no network.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

import pytest

import alligator
from tests.processes import ROOT

pytestmark = pytest.mark.packaging

VERSION = alligator.__version__
#: Distributions no user extra may bring: the project's own toolchain.
DEV_TOOLS = {
    "ruff",
    "cfn-lint",
    "hypothesis",
    "pytest-xdist",
    "freezegun",
    "amazon-sqs-extended-client",
    "mypy",
    "celery",
    "dramatiq-sqs",
    "build",
    "docker",
    "aws-xray-sdk",
}
#: What ``alligator[sqs]`` installs: boto3 and its own dependencies.
SQS_CLOSURE = {
    "alligator",
    "boto3",
    "botocore",
    "jmespath",
    "python-dateutil",
    "s3transfer",
    "six",
    "urllib3",
}
#: The environment of a shell that never saw AWS or this repository. (Only
#: boto3's instance-metadata look-up is switched off: tests reach loopback only.)
CLEAN_ENV = {
    **{
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "ALLIGATOR_", "PYTHON", "VIRTUAL_ENV", "PYTEST"))
    },
    "AWS_EC2_METADATA_DISABLED": "true",
}


def run(argv, *, cwd=None, env=None, timeout=300, check=True):
    result = subprocess.run(
        argv, cwd=cwd, env=env or CLEAN_ENV, capture_output=True, text=True, timeout=timeout
    )
    if check:
        assert result.returncode == 0, f"{argv}\n{result.stdout}\n{result.stderr}"
    return result


def name_of(requirement: str) -> str:
    """The normalised distribution name a requirement names."""
    return re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def requires_by_extra(metadata: str) -> dict[str, set[str]]:
    """``{extra or "": {distribution names}}`` from a METADATA file."""
    found: dict[str, set[str]] = {}
    for line in metadata.splitlines():
        if line.startswith("Requires-Dist: "):
            requirement = line.removeprefix("Requires-Dist: ")
            extra = re.search(r"extra == \"([^\"]+)\"", requirement)
            found.setdefault(extra.group(1) if extra else "", set()).add(name_of(requirement))
    return found


# -- building ---------------------------------------------------------------------

#: What is never part of the source tree, whatever git says.
NOT_SOURCE = (
    ".git",
    ".venv",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    ".hypothesis",
    "*.db",
    "wheelhouse-*",
)


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    """The wheel and the sdist, built from this checkout as a release is
    (``python -m build``; no isolation: the dev group has setuptools)."""
    out = tmp_path_factory.mktemp("dist")
    # Build from a copy, so that parallel builds (xdist) and local files
    # (the venv, caches, databases) cannot get in.
    source = tmp_path_factory.mktemp("source") / "alligator"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*NOT_SOURCE))
    result = run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(source)],
        env=os.environ,
    )
    assert "SetuptoolsDeprecationWarning" not in result.stdout + result.stderr
    [wheel] = out.glob("*.whl")
    [sdist] = out.glob("*.tar.gz")
    return wheel, sdist


@pytest.fixture(scope="module")
def wheelhouse(dist):
    """A folder of wheels for ``[sqs,test]``, kept in the dev venv between
    runs (keyed by the wheel's requirements) and shared by xdist workers."""
    wheel, _ = dist
    with zipfile.ZipFile(wheel) as zf:
        metadata = zf.read(f"alligator-{VERSION}.dist-info/METADATA").decode()
    requires = sorted(line for line in metadata.splitlines() if line.startswith("Requires-Dist"))
    key = hashlib.sha256("\n".join(requires).encode()).hexdigest()[:12]
    base = Path(sys.prefix) if sys.prefix != sys.base_prefix else ROOT / "build"
    house = base / f"wheelhouse-{key}"
    house.mkdir(parents=True, exist_ok=True)
    with open(base / f"wheelhouse-{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (house / ".complete").exists():
            run(
                [sys.executable, "-m", "pip", "download", "-q", "--dest", str(house),
                 f"{wheel}[sqs,test]"],
                env=os.environ,
                timeout=600,
            )  # fmt: skip
            (house / ".complete").touch()
    return house


def offline(house: Path) -> list[str]:
    return ["--no-index", "--find-links", str(house)]


def venv(path: Path) -> Path:
    """A fresh venv with pip; returns its bin directory."""
    run([sys.executable, "-m", "venv", str(path)])
    return path / "bin"


def installed(bin_dir: Path) -> set[str]:
    listing = run([str(bin_dir / "python"), "-m", "pip", "list", "--format", "json"]).stdout
    # (pip and, on Python 3.11, setuptools come with every venv)
    return {p["name"].lower().replace("_", "-") for p in json.loads(listing)} - {
        "pip",
        "setuptools",
    }


# -- the wheel's contents ------------------------------------------------------------


def test_the_wheel_ships_license_types_scripts_and_only_runtime_dependencies(dist):
    wheel, _ = dist
    assert wheel.name == f"alligator-{VERSION}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        info = f"alligator-{VERSION}.dist-info"
        metadata = zf.read(f"{info}/METADATA").decode()
        entry_points = zf.read(f"{info}/entry_points.txt").decode()
        license_text = zf.read(f"{info}/licenses/LICENSE").decode()
    # The files a user needs
    assert {"alligator/py.typed", "alligator/_version.py", "alligator/lambda_zip.py"} <= names
    assert "BSD 3-Clause License" in license_text and "the alligator authors" in license_text
    assert not [n for n in names if n.startswith("tests/") or n.endswith(".pyc")]
    # The metadata: SPDX licence, version from alligator/_version.py, URLs
    assert f"\nVersion: {VERSION}\n" in metadata
    assert "\nLicense-Expression: BSD-3-Clause\n" in metadata
    assert "Classifier: License ::" not in metadata  # the SPDX expression says it
    assert "Project-URL: Source, https://github.com/alligator-sqs/alligator" in metadata
    assert "Classifier: Typing :: Typed" in metadata
    # The console scripts and the pytest plugin
    assert "alligator = alligator.cli:main" in entry_points
    assert "latergator = alligator.cli:latergator" in entry_points
    assert "alligator = alligator.testing" in entry_points
    # And no development tool among the dependencies of the core or an extra
    requires = requires_by_extra(metadata)
    assert requires.get("", set()) == set()
    assert requires["sqs"] == {"boto3"}
    assert requires["test"] == {"boto3", "moto", "flask", "flask-cors", "pytest"}
    # the user extras, and no bench or dev extra
    assert set(requires) <= {"sqs", "test", "dashboard", "schedule", "otel"}
    assert {"sqs", "test"} <= set(requires)
    for extra, names in requires.items():
        assert not names & DEV_TOOLS, extra
    assert "Requires-Dist: moto[sqs]" in metadata  # not moto[server]: every service's deps


def test_the_readme_has_no_relative_links():
    # PyPI-style index pages show the README with no repository around it.
    links = re.findall(r"\]\(([^)]+)\)", (ROOT / "README.md").read_text())
    assert links
    relative = [link for link in links if not link.startswith(("https://", "http://", "#"))]
    assert relative == []
    for link in links:
        if "github.com" in link:
            assert link.startswith("https://github.com/alligator-sqs/alligator/"), link


# -- the wheel in fresh venvs ----------------------------------------------------------


def test_with_no_extra_alligator_imports_no_boto3_and_names_the_extras(dist, tmp_path):
    wheel, _ = dist
    bin_dir = venv(tmp_path / "bare")
    run([str(bin_dir / "pip"), "install", "-q", "--no-index", str(wheel)])
    assert installed(bin_dir) == {"alligator"}
    check = """
import sys
import alligator
from alligator import Gator
assert "boto3" not in sys.modules and "botocore" not in sys.modules, sorted(sys.modules)
gator = Gator("locmem://")
gator.task(print, "ran")
assert gator.pop().status == alligator.SUCCESS
try:
    Gator("sqs://us-east-1/emails")
except alligator.ConfigurationError as exc:
    print(exc)
"""
    out = run([str(bin_dir / "python"), "-c", check], cwd=tmp_path).stdout
    assert "pip install 'alligator[sqs]'" in out
    # local-sqs needs moto: one line naming the extra, exit 2
    result = run([str(bin_dir / "alligator"), "local-sqs"], cwd=tmp_path, check=False)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "alligator[test]" in result.stderr


def test_the_readme_quick_start_word_by_word_from_the_wheel(dist, wheelhouse, tmp_path):
    # Given the quick start's shell lines and files, from the README itself
    wheel, _ = dist
    shell, files = quick_start()
    port = 9324 if port_is_free(9324) else free_port()  # the README's, unless taken
    shell = [line.replace("9324", str(port)) for line in shell]
    files = {name: text.replace("9324", str(port)) for name, text in files.items()}
    # Its first line makes the venv, in an empty folder
    assert shell[0] == "python3 -m venv .venv && . .venv/bin/activate"
    run(["bash", "-c", shell[0].replace("python3", shlex.quote(sys.executable), 1)], cwd=tmp_path)
    bin_dir = tmp_path / ".venv" / "bin"
    env = {**CLEAN_ENV, "PATH": f"{bin_dir}:{CLEAN_ENV['PATH']}", "HOME": str(tmp_path)}

    # With only [sqs]: boto3 and its own dependencies, the scripts, --version
    run([str(bin_dir / "pip"), "install", "-q", *offline(wheelhouse), f"{wheel}[sqs]"], env=env)
    assert installed(bin_dir) == SQS_CLOSURE
    assert (bin_dir / "alligator").exists() and (bin_dir / "latergator").exists()
    version = run([str(bin_dir / "alligator"), "--version"], env=env, cwd=tmp_path).stdout
    assert version == f"alligator {VERSION}\n"
    assert run([str(bin_dir / "latergator"), "--help"], env=env, cwd=tmp_path).stdout.startswith(
        "usage: alligator worker"
    )

    # When the quick start's install line runs, with this wheel as the source
    install = shell[1]
    source = "alligator[sqs,test] @ git+https://github.com/alligator-sqs/alligator"
    assert install == f"pip install '{source}'"
    install = install.replace(source, f"{wheel}[sqs,test]") + " " + shlex.join(offline(wheelhouse))
    in_venv(install, tmp_path, env)
    assert {"moto", "flask", "pytest"} <= installed(bin_dir)
    assert not installed(bin_dir) & DEV_TOOLS
    # And local-sqs runs in the background, as its line says
    assert shell[2].endswith("&")
    with background(shell[2].removesuffix("&"), tmp_path, env) as server:
        wait_for_line(server, "Stop with Ctrl-C.")
        # And the files are written, and the producer runs
        for name, text in files.items():
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / name).write_text(text)
        assert shell[3] == "python enqueue.py"
        produced = in_venv(shell[3], tmp_path, env).stdout.split()
        assert len(produced) == 1  # the task id it printed
        # And the worker runs both tasks, until Ctrl-C
        assert shell[4].startswith("alligator worker ")
        with background(shell[4], tmp_path, env) as worker:
            endpoint = f"http://127.0.0.1:{port}"
            wait_until_drained(bin_dir, endpoint, env, tmp_path)
            worker.send_signal(signal.SIGINT)
            out, err = worker.communicate(timeout=60)
        # Then it printed what the README says, and stopped cleanly
        assert worker.returncode == 0, err
        assert "sending 'welcome' to user 42" in out
        assert "sending 'hi' to user 43" in out
        assert "Traceback" not in err
        # And the extra's moto serves what alligator uses besides SQS: S3 for
        # large payloads, DynamoDB for the status store
        (tmp_path / "extra_check.py").write_text(EXTRA_CHECK)
        checked = in_venv(f"python extra_check.py {endpoint}", tmp_path, env)
        assert checked.stdout.split() == ["success"], checked.stderr
    assert len(shell) == 5, shell  # every line of the quick start was run


EXTRA_CHECK = """
import sys
import boto3
from alligator import Gator
from alligator.testing import drain

url = sys.argv[1]
keys = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
boto3.client("s3", region_name="us-east-1", endpoint_url=url, **keys).create_bucket(
    Bucket="extra-check"
)
gator = Gator(
    f"sqs://us-east-1/extra-check?endpoint_url={url}&create=true&payload_bucket=extra-check"
    "&wait_time=0",
    status=f"dynamodb://us-east-1/extra-check?endpoint_url={url}&create=true",
)
task = gator.task(len, "x" * 1_100_000)  # over SQS's 1 MiB: its body goes to S3
[done] = drain(gator)
assert done.result == 1_100_000
print(gator.status(task.task_id).to_dict()["status"])
"""


def quick_start() -> tuple[list[str], dict[str, str]]:
    """The README quick start's shell lines (comments dropped), and its
    Python blocks by the file name of their first-line comment."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Quick start", 1)[1].split("\n### ", 1)[0].split("\n## ", 1)[0]
    shell: list[str] = []
    files: dict[str, str] = {}
    for language, body in re.findall(r"```(\w+)\n(.*?)```", section, flags=re.S):
        if language == "sh":
            for line in body.splitlines():
                command = re.sub(r"\s+#.*$", "", line).strip()
                if command:
                    shell.append(command)
        elif language == "python":
            first, _, rest = body.partition("\n")
            files[first.removeprefix("# ").split()[0]] = rest
    return shell, files


def in_venv(command: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """One shell line, in a shell where the venv is active."""
    return run(["bash", "-c", f". .venv/bin/activate && {command}"], cwd=cwd, env=env)


@contextlib.contextmanager
def background(command: str, cwd: Path, env: dict[str, str]):
    """``command &`` in an activated shell; SIGINT, then SIGKILL, after."""
    process = subprocess.Popen(
        ["bash", "-c", f". .venv/bin/activate && exec {command}"],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.communicate()


def wait_for_line(process: subprocess.Popen, wanted: str) -> None:
    lines = []
    while wanted not in lines:
        line = process.stdout.readline()
        assert line, f"exited: {lines} {process.stderr.read()}"
        lines.append(line.strip())


def wait_until_drained(bin_dir: Path, endpoint: str, env: dict[str, str], cwd: Path) -> None:
    """Until the queue has nothing visible or in flight (with a generous
    timeout): both tasks ran and were deleted."""
    dsn = f"sqs://us-east-1/emails?endpoint_url={endpoint}"
    deadline = time.monotonic() + 60
    while True:
        stats = run([str(bin_dir / "alligator"), "stats", dsn, "--json"], env=env, cwd=cwd)
        counts = json.loads(stats.stdout)
        if counts["visible"] == counts["in_flight"] == counts["delayed"] == 0:
            return
        assert time.monotonic() < deadline, counts
        time.sleep(0.2)


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- the sdist ----------------------------------------------------------------------


def test_the_sdist_carries_the_tests_and_they_run(dist, tmp_path):
    _, sdist = dist
    with tarfile.open(sdist) as tar:
        tar.extractall(tmp_path, filter="data")
    root = tmp_path / f"alligator-{VERSION}"
    for name in (
        "LICENSE",
        "README.md",
        "Makefile",
        ".ci/run",
        "pyproject.toml",
        "tests/conftest.py",
        "tests/tasks.py",
        "tests/integration/conftest.py",
        "infra/queue.yaml",
        "infra/build_lambda.py",
        "docs/lambda.md",
        "bench/drain.py",
    ):
        assert (root / name).is_file(), name
    assert not list(root.rglob("*.pyc"))
    # Its tests collect (every module imports, from the sdist's own package)
    env = {**os.environ, "PYTHONPATH": str(root)}
    env.pop("ALLIGATOR_TEST_SQS_ENDPOINT", None)
    where = run(
        [sys.executable, "-c", "import alligator; print(alligator.__file__)"], cwd=tmp_path, env=env
    )
    assert where.stdout.strip() == str(root / "alligator" / "__init__.py")
    argv = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q"]
    collected = run([*argv, "--collect-only", "tests"], cwd=root, env=env, timeout=300)
    assert re.search(r"^\d+ tests collected", collected.stdout, flags=re.M), collected.stdout
    # And a sample of them passes there: the DSN rules and the CLI's errors
    sample = [
        "tests/test_dsn_errors.py",
        "tests/test_cli.py::test_bad_arguments_exit_2_with_one_line",
    ]
    result = run([*argv, *sample], cwd=root, env=env, timeout=300)
    assert " passed" in result.stdout
