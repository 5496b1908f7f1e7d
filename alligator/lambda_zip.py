"""``alligator lambda-zip``: the Lambda deployment zip, alligator plus your
task code, built from the installed package (no checkout needed)::

    alligator lambda-zip myapp -o build/lambda.zip
    alligator lambda-zip myapp --requirements requirements.txt --arch arm64

The zip holds this ``alligator/`` package, each task package or module given
(at the zip's root, so ``myapp.tasks`` imports as it does locally) and, with
``--requirements``, their dependencies installed by pip for the Lambda
runtime (python3.12, manylinux wheels). It is deterministic: the same inputs
give the same bytes, so its sha256 can name the S3 key and CloudFormation
redeploys only when the code changed. boto3 is left out because the runtime
already ships it (``--include-boto3`` keeps it, to pin your own version).

Standard library only: it needs neither boto3 nor anything else installed.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

from ._version import __version__
from .exceptions import ConfigurationError

#: The package shipped: this one.
PACKAGE = Path(__file__).resolve().parent

#: Fixed timestamp for every entry: the earliest a zip can store.
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
#: A regular file, rw-r--r--: Lambda needs the code world-readable.
FILE_MODE = 0o100644 << 16
#: Lambda's limit on the unzipped size of a function and its layers.
#: https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
MAX_UNZIPPED_BYTES = 250 * 1024 * 1024
#: Names never shipped: caches and bytecode are rebuilt, VCS data is noise.
SKIP_NAMES = {"__pycache__", ".git", ".pytest_cache", ".mypy_cache", ".ruff_cache"}
SKIP_SUFFIXES = {".pyc", ".pyo"}
#: In the python3.12 runtime already; a second copy only adds megabytes.
RUNTIME_PACKAGES = {"boto3", "botocore", "s3transfer"}


class BuildError(ConfigurationError):
    """A problem with the inputs, reported as one line and exit code 2."""


def iter_files(root: Path, *, skip_dirs: frozenset[str] = frozenset()) -> Iterator[Path]:
    """Yield the files under `root` (or `root` itself) worth shipping."""
    if root.is_file():
        yield root
        return
    for path in sorted(root.rglob("*")):
        parts = path.relative_to(root).parts
        if any(p in SKIP_NAMES or p in skip_dirs for p in parts):
            continue
        if path.is_file() and path.suffix not in SKIP_SUFFIXES:
            yield path


def add_tree(
    entries: dict[str, Path],
    root: Path,
    base: Path,
    skip_dirs: frozenset[str] = frozenset(),
) -> None:
    """Map zip names (relative to `base`) to the files under `root`."""
    for path in iter_files(root, skip_dirs=skip_dirs):
        name = path.relative_to(base).as_posix()
        if name in entries and entries[name] != path:
            raise BuildError(f"two files would be zipped as {name}")
        entries[name] = path


def dist_info() -> dict[str, bytes]:
    """A minimal ``*.dist-info`` so ``importlib.metadata.version("alligator")``
    works in the function too."""
    name, ver = "alligator", __version__
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {ver}\n"
    return {f"{name}-{ver}.dist-info/METADATA": metadata.encode()}


def pip_install(requirements: Path, target: Path, arch: str) -> None:
    """Install requirements as the Lambda runtime needs them, not as this host does."""
    cmd = [
        sys.executable, "-m", "pip", "install", "--quiet", "--no-compile",
        "--requirement", str(requirements), "--target", str(target),
        "--platform", f"manylinux2014_{arch}", "--implementation", "cp",
        "--python-version", "3.12", "--only-binary=:all:",
    ]  # fmt: skip
    if subprocess.run(cmd, check=False).returncode != 0:
        raise RuntimeError(f"pip install -r {requirements} failed (see above)")


def is_runtime_package(name: str) -> bool:
    """True for boto3 & co. and their `.dist-info` directories."""
    top = name.split("/", 1)[0]
    return top.split("-", 1)[0].lower() in RUNTIME_PACKAGES


def write_zip(output: Path, entries: dict[str, Path], extra: dict[str, bytes]) -> int:
    """Write a byte-for-byte reproducible zip; return the unzipped size."""
    output.parent.mkdir(parents=True, exist_ok=True)
    files = {name: path.read_bytes() for name, path in entries.items()}
    files.update(extra)
    with zipfile.ZipFile(output, "w") as zf:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
            info.external_attr = FILE_MODE
            info.create_system = 3  # Unix, whatever the host, for equal bytes
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, files[name], compresslevel=9)
    return sum(len(data) for data in files.values())


def build(
    task_paths: list[Path],
    output: Path,
    *,
    package: Path = PACKAGE,
    requirements: Path | None = None,
    arch: str = "x86_64",
    include_boto3: bool = False,
) -> tuple[Path, int]:
    """Build the zip at ``output``; return it and its unzipped size.

    Example:
        >>> build([Path("myapp")], Path("build/lambda.zip"))
        (PosixPath('build/lambda.zip'), 1234567)

    Args:
        task_paths: task packages (directories) or modules (files), zipped
            at the zip's root.
        output: where to write the zip.
        package: the ``alligator`` package directory to ship (this one).
        requirements: a requirements file to pip-install for the runtime.
        arch: ``x86_64`` or ``arm64``, for ``requirements``.
        include_boto3: keep boto3 & co. instead of the runtime's.

    Raises:
        BuildError: a missing input, or two inputs with the same zip name.
        RuntimeError: pip failed.
    """
    if not (package / "__init__.py").is_file():
        raise BuildError(f"alligator package not found in {package}")
    for path in task_paths:
        if not path.exists():
            raise BuildError(f"task path not found: {path}")
    if requirements and not requirements.is_file():
        raise BuildError(f"requirements file not found: {requirements}")

    entries: dict[str, Path] = {}
    add_tree(entries, package, package.parent)
    for path in (p.resolve() for p in task_paths):
        add_tree(entries, path, path.parent)
    with tempfile.TemporaryDirectory() as tmp:
        if requirements:
            pip_install(requirements, Path(tmp), arch)
            add_tree(entries, Path(tmp), Path(tmp))
        if not include_boto3:
            entries = {n: p for n, p in entries.items() if not is_runtime_package(n)}
        size = write_zip(output, entries, dist_info())
    return output, size


def sha256_of(path: Path) -> str:
    """The zip's sha256, hex: a content address for its S3 key."""
    return hashlib.sha256(path.read_bytes()).hexdigest()
