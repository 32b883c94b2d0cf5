"""``bertlab doctor``: is this machine ready for the course? One table, a fix for every FAIL.

Each check returns a :class:`Check`; ``report()`` prints them and returns False on any FAIL.
The checks read versions through ``importlib.metadata`` first, so a broken install is
reported rather than crashing the doctor itself.
"""
from __future__ import annotations

import platform
import sys
from importlib import metadata
from typing import Callable, NamedTuple

from bertlab import models

OK, INFO, WARN, FAIL = "OK", "INFO", "WARN", "FAIL"
# Data sets no lesson needs: reported, never a warning.
OPTIONAL_DATA = {"mrpc-test": "optional: MRPC's labelled test split (the lessons use train and validation)"}
PYTHON_RANGE = ((3, 10), (3, 13))
INSTALL_HINT = "pip install -r requirements.txt (or `make lab`)"


class Check(NamedTuple):
    name: str
    status: str
    detail: str
    fix: str = ""


def installed_version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _minor(version: str) -> tuple[int, int]:
    major, minor = version.split(".")[:2]
    return int(major), int("".join(ch for ch in minor if ch.isdigit()) or 0)


def check_python(version_info=sys.version_info) -> Check:
    version = ".".join(map(str, version_info[:3]))
    low, high = PYTHON_RANGE
    if low <= tuple(version_info[:2]) <= high:
        return Check("Python", OK, version)
    return Check("Python", FAIL, version, "use Python 3.11 (tested; 3.10-3.13 work): see the README")


def check_package(name: str, distribution: str, version_of=installed_version, fix: str = INSTALL_HINT) -> Check:
    version = version_of(distribution)
    return Check(name, OK, version) if version else Check(name, FAIL, "not installed", fix)


def check_tensorflow_family(version_of=installed_version) -> list[Check]:
    """tf-keras and tensorflow-text must share TensorFlow's minor version (their ops and Keras API are tied to it)."""
    tf_version = version_of("tensorflow") or version_of("tensorflow-cpu")
    if not tf_version:
        return [Check("TensorFlow", FAIL, "not installed", INSTALL_HINT)]
    checks = [Check("TensorFlow", OK, tf_version)]
    for name, distribution in (("tf-keras", "tf-keras"), ("tensorflow-text", "tensorflow-text")):
        version = version_of(distribution)
        if not version:
            checks.append(Check(name, FAIL, "not installed", f"pip install '{distribution}~={'.'.join(map(str, _minor(tf_version)))}.0'"))
        elif _minor(version) != _minor(tf_version):
            wanted = ".".join(map(str, _minor(tf_version)))
            checks.append(
                Check(name, FAIL, f"{version} (TensorFlow is {tf_version})", f"pip install '{distribution}=={wanted}.*' to match TensorFlow {wanted}")
            )
        elif distribution == "tensorflow-text" and version == "2.21.0":
            checks.append(Check(name, FAIL, "2.21.0 fails to import", "pip install tensorflow-text==2.21.1"))
        else:
            checks.append(Check(name, OK, version))
    return checks


def check_transformers(version_of=installed_version) -> Check:
    version = version_of("transformers")
    if not version:
        return Check("transformers", FAIL, "not installed", "pip install 'transformers>=4.46,<5'")
    if _minor(version)[0] >= 5:
        return Check("transformers", FAIL, f"{version} (v5 has no TensorFlow classes)", "pip install 'transformers>=4.46,<5'")
    return Check("transformers", OK, version)


def check_keras2() -> Check:
    try:
        from bertlab.env import check_keras2 as confirm

        return Check("Keras 2 active", OK, f"tf.keras is tf-keras {confirm()}")
    except ImportError as error:
        return Check("Keras 2 active", FAIL, f"cannot import: {error}", INSTALL_HINT)
    except RuntimeError as error:  # Keras3LoadedError
        return Check("Keras 2 active", FAIL, str(error).split(". ")[0], "restart the kernel and `import bertlab` first")


def check_gpus() -> Check:
    try:
        from bertlab.env import device_summary, in_colab
    except ImportError as error:  # pragma: no cover
        return Check("GPUs", FAIL, str(error))
    summary = device_summary()
    if summary.startswith("CPU") and in_colab():
        return Check("GPUs", WARN, summary, "Colab: Runtime > Change runtime type > GPU")
    return Check("GPUs", OK, summary)


def check_embedded_model() -> list[Check]:
    try:
        folder = models.embedded_files_dir()
    except models.ModelUnavailableError as error:
        return [Check("embedded model", FAIL, "package not installed", models.EMBEDDED_INSTALL), _built_check(False, str(error))]
    checks = [Check("embedded model", OK, f"{models.EMBEDDED_PACKAGE} at {folder}")]
    checks.append(_built_check(models.is_built(models.DEFAULT_MODEL)))
    return checks


def _built_check(built: bool, why: str = "") -> Check:
    if built:
        return Check("model cache", OK, f"built in {models.build_dir(models.DEFAULT_MODEL)}")
    return Check("model cache", WARN, why.split("\n")[0] or "not built yet (built on first use)", "python -m bertlab build")


def check_data() -> list[Check]:
    try:
        from bertlab import data
    except ImportError as error:
        return [Check("data", FAIL, f"cannot import bertlab.data: {error}", INSTALL_HINT)]
    checks = []
    for status in data.data_status():
        if status.location:
            checks.append(Check(f"data: {status.name}", OK, f"{status.location} ({status.source.split(':')[0]})"))
        elif status.name in OPTIONAL_DATA:
            checks.append(Check(f"data: {status.name}", INFO, f"not found; {OPTIONAL_DATA[status.name]}"))
        else:
            checks.append(Check(f"data: {status.name}", WARN, status.source, "set BERTLAB_DATA to a folder with the files (see data/README.md)"))
    return checks


def check_hubs(reason: Callable[[str], str | None] = models.unreachable_reason) -> list[Check]:
    checks = []
    for name, url in (("TF Hub", "https://tfhub.dev"), ("Hugging Face Hub", "https://huggingface.co")):
        problem = reason(url)
        if problem:
            checks.append(Check(name, WARN, f"unreachable ({problem[:60]})", "offline is fine: the embedded model and local data work"))
        else:
            checks.append(Check(name, OK, "reachable"))
    return checks


def run_checks() -> list[Check]:
    checks = [check_python()]
    checks += check_tensorflow_family()
    checks.append(check_package("tensorflow-hub", "tensorflow-hub"))
    checks.append(check_transformers())
    checks.append(check_package("keras-bert", "keras-bert"))
    checks.append(check_keras2())
    checks.append(check_gpus())
    checks += check_embedded_model()
    checks += check_data()
    checks += check_hubs()
    return checks


def format_table(checks: list[Check]) -> str:
    width = max(len(check.name) for check in checks)
    lines = [f"bertlab doctor (Python {platform.python_version()}, {platform.system()})"]
    for check in checks:
        lines.append(f"  {check.status:<4}  {check.name:<{width}}  {check.detail}")
        if check.status in (WARN, FAIL) and check.fix:
            lines.append(f"  {'':<4}  {'':<{width}}  -> {check.fix}")
    failures = sum(check.status == FAIL for check in checks)
    lines.append("All good." if not failures else f"{failures} FAIL line(s): fix them and run `bertlab doctor` again.")
    return "\n".join(lines)


def report(checks: list[Check] | None = None) -> bool:
    """Print the doctor's table; True when nothing FAILed."""
    checks = run_checks() if checks is None else checks
    print(format_table(checks))
    return not any(check.status == FAIL for check in checks)
