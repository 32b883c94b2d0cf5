"""``bertlab doctor``: is this machine ready for the course? One table, a fix for every FAIL.

Each check returns a :class:`Check`; ``report()`` prints them and returns False on any FAIL.
The checks read versions through ``importlib.metadata`` first, then import every compiled
piece they reported installed in a separate Python process (:func:`import_problems`): package
metadata can say "2.21.1" of a wheel that fails with "undefined symbol", and a crash of that
import must not take the doctor down with it.
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from importlib import metadata
from typing import Callable, NamedTuple

from bertlab import models

OK, INFO, WARN, FAIL = "OK", "INFO", "WARN", "FAIL"
# Data sets no lesson needs: reported, never a warning.
OPTIONAL_DATA = {"mrpc-test": "optional: MRPC's labelled test split (the lessons use train and validation)"}
PYTHON_RANGE = ((3, 10), (3, 13))
INSTALL_HINT = "pip install -r requirements.txt (or `make lab`)"
# TensorFlow is published under several distribution names; the module is `tensorflow` for all.
TENSORFLOW_DISTRIBUTIONS = ("tensorflow", "tensorflow-cpu", "tensorflow-gpu", "tensorflow-macos", "tensorflow-intel",
                            "intel-tensorflow", "tensorflow-aarch64", "tensorflow-rocm", "tf-nightly", "tf-nightly-cpu")
# The doctor's row name -> the module the lessons import.
MODULES = {"TensorFlow": "tensorflow", "tf-keras": "tf_keras", "tensorflow-text": "tensorflow_text",
           "tensorflow-hub": "tensorflow_hub", "keras-bert": "keras_bert", "transformers": "transformers",
           "KerasHub": "keras_hub"}
# Lesson 07 (Keras 3 + KerasHub): keras-hub 0.32 and the modules it needs beyond its import (measured in
# tests/test_kerashub.py: regex and rich to import it, sentencepiece to read a Hugging Face folder, kagglehub and
# kagglesdk for Kaggle presets). The one install line is bertlab.kerashub's.
KERASHUB_VERSION = "0.32"
KERASHUB_EXTRAS = ("sentencepiece", "kagglehub", "kagglesdk", "regex", "rich")
KERASHUB_INSTALL = "pip install keras-hub==0.32.0 sentencepiece==0.2.3 kagglehub==1.0.2 kagglesdk==0.1.28"
IMPORT_TIMEOUT_S = 300


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


def check_platform(problem: Callable[[], str | None] | None = None) -> Check:
    """FAIL on a computer the pinned requirements cannot install on (Windows, Intel macOS...), with the way out."""
    from bertlab import env

    found = (problem or env.platform_problem)()
    name = env.platform_name()
    if found is None:
        return Check("computer", OK, name)
    reason, _, way_out = found.partition(". ")
    return Check("computer", FAIL, f"{name}: {reason.split(': ', 1)[-1]}", way_out or found)


def check_package(name: str, distribution: str, version_of=installed_version, fix: str = INSTALL_HINT) -> Check:
    version = version_of(distribution)
    return Check(name, OK, version) if version else Check(name, FAIL, "not installed", fix)


def tensorflow_distribution(version_of=installed_version) -> tuple[str, str] | None:
    """(distribution name, version) of the installed TensorFlow, under any of its names, or None."""
    for distribution in TENSORFLOW_DISTRIBUTIONS:
        version = version_of(distribution)
        if version:
            return distribution, version
    return None


def check_tensorflow_family(version_of=installed_version) -> list[Check]:
    """tf-keras and tensorflow-text must share TensorFlow's minor version (their ops and Keras API are tied to it)."""
    found = tensorflow_distribution(version_of)
    if not found:
        return [Check("TensorFlow", FAIL, "not installed", INSTALL_HINT)]
    distribution, tf_version = found
    checks = [Check("TensorFlow", OK, tf_version if distribution == "tensorflow" else f"{tf_version} ({distribution})")]
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


def check_keras3(version_of=installed_version) -> Check:
    """Keras 3, which lesson 07 uses (lessons 01-06 use tf-keras: both are installed side by side). Lesson 07 only:
    a WARN, not a FAIL, where it is missing (Colab's setup cell of lessons 01-06 does not install KerasHub)."""
    version = version_of("keras")
    if not version:
        return Check("Keras 3", WARN, "not installed (lesson 07 needs it)", KERASHUB_INSTALL)
    if _minor(version)[0] < 3:
        return Check("Keras 3", WARN, f"keras {version} is Keras 2 (lesson 07 needs Keras 3)", "pip install 'keras>=3.10'")
    return Check("Keras 3", OK, f"{version} (lesson 07; lessons 01-06 use tf-keras)")


def check_kerashub(version_of=installed_version) -> Check:
    """keras-hub 0.32 and the modules it needs for lesson 07."""
    version = version_of("keras-hub")
    if not version:
        return Check("KerasHub", WARN, "not installed (lesson 07 needs it)", KERASHUB_INSTALL)
    missing = [name for name in KERASHUB_EXTRAS if not version_of(name)]
    if missing:
        return Check("KerasHub", WARN, f"{version}, without {', '.join(missing)} (lesson 07 needs them)", KERASHUB_INSTALL)
    if not version.startswith(KERASHUB_VERSION + "."):
        return Check("KerasHub", WARN, f"{version} (lesson 07 was tested with {KERASHUB_VERSION})", KERASHUB_INSTALL)
    return Check("KerasHub", OK, f"{version} (with {', '.join(KERASHUB_EXTRAS)})")


# Run in a child Python: imports the modules named on its command line in order, one JSON line
# before and one after each, so that a crash (a segfault in a compiled extension) names its culprit.
_IMPORT_PROBE = """
import importlib, json, os, sys
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # as `import bertlab` does
os.environ.setdefault("TF_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
for name in sys.argv[1:]:
    print(json.dumps({"start": name}), flush=True)
    try:
        importlib.import_module(name)
        error = None
    except BaseException as exc:
        error = (type(exc).__name__ + ": " + str(exc)).strip().splitlines()[-1][:300]
    print(json.dumps({"module": name, "error": error}), flush=True)
"""


def import_problems(modules, run=subprocess.run) -> dict[str, str | None]:
    """Import ``modules`` in a child Python (this interpreter, this environment); for each,
    None if it imported, else what went wrong (the exception's last line, or the crash).

    One child imports them all in order; if it crashes, the culprit is recorded and a new
    child carries on with the modules after it.
    """
    results: dict[str, str | None] = {}
    remaining = list(modules)
    while remaining:
        try:
            proc = run([sys.executable, "-c", _IMPORT_PROBE, *remaining], capture_output=True, text=True,
                       timeout=IMPORT_TIMEOUT_S, env={**os.environ, "PYTHONWARNINGS": "ignore"})
        except subprocess.TimeoutExpired:
            results.update({name: f"importing took over {IMPORT_TIMEOUT_S} s" for name in remaining})
            break
        started = None
        for line in proc.stdout.splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue  # a module printing to stdout while it imports
            if "start" in event:
                started = event["start"]
            elif event.get("module") in remaining:
                results[event["module"]] = event["error"]
        if proc.returncode != 0:
            tail = (proc.stderr.strip().splitlines() or [""])[-1][:200]
            culprit = started if started in remaining and started not in results else None
            crashed = f"importing it crashed Python (exit code {proc.returncode})" + (f": {tail}" if tail else "")
            if culprit is None:  # the child died before importing anything
                results.update({name: crashed for name in remaining if name not in results})
            else:
                results[culprit] = crashed
        remaining = [name for name in remaining if name not in results]
    return results


def import_fix(module: str, tf_version: str | None) -> str:
    """The command that repairs a package that is installed but does not import."""
    tf_minor = ".".join(map(str, _minor(tf_version))) if tf_version else None
    if module == "tensorflow_text" and tf_minor:
        return f'pip install "tensorflow-text=={tf_minor}.*"  (a wheel built for TensorFlow {tf_minor})'
    if module == "tf_keras" and tf_minor:
        return f'pip install "tf-keras=={tf_minor}.*"  (the Keras 2 of TensorFlow {tf_minor})'
    if module == "transformers":
        return "pip install --force-reinstall 'transformers>=4.46,<5'"
    if module == "keras_hub":
        return f"{KERASHUB_INSTALL}  (keras-hub fails to import without one of {', '.join(KERASHUB_EXTRAS)})"
    distribution = {"tensorflow": "tensorflow", "tensorflow_hub": "tensorflow-hub", "keras_bert": "keras-bert"}[module]
    return f"pip install --force-reinstall {distribution}  (or {INSTALL_HINT})"


def confirm_imports(checks: list[Check], problems=import_problems) -> list[Check]:
    """Turn each OK package row into a FAIL, with the fix, when its module does not import."""
    modules = [MODULES[check.name] for check in checks if check.status == OK and check.name in MODULES]
    found = problems(modules) if modules else {}
    tf_version = next((check.detail.split()[0] for check in checks if check.name == "TensorFlow" and check.status == OK), None)
    confirmed = []
    for check in checks:
        error = found.get(MODULES.get(check.name))
        if error:
            module = MODULES[check.name]
            check = Check(check.name, FAIL, f"{check.detail} installed, but `import {module}` fails: {error}",
                          import_fix(module, tf_version))
        confirmed.append(check)
    return confirmed


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


def check_hubs(reason: Callable[[str], str | None] | None = None) -> list[Check]:
    """TF Hub: does BERT-base's preprocessor handle answer with a model (Kaggle may answer 403 or a web
    page)? Hugging Face: does a connection open? ``reason(url)`` replaces both probes (tests)."""
    tf_hub = models.MODELS["bert-base-uncased"].hub_preprocess
    probes = (("TF Hub", tf_hub, reason or models.hub_handle_problem),
              ("Hugging Face Hub", "https://huggingface.co", reason or models.unreachable_reason))
    checks = []
    for name, url, probe in probes:
        problem = probe(url)
        if problem:
            checks.append(Check(name, WARN, f"not available ({problem[:90]})", "offline is fine: the embedded model and local data work"))
        else:
            checks.append(Check(name, OK, "reachable"))
    return checks


def run_checks() -> list[Check]:
    packages = check_tensorflow_family()
    packages.append(check_package("tensorflow-hub", "tensorflow-hub"))
    packages.append(check_transformers())
    packages.append(check_package("keras-bert", "keras-bert"))
    packages.append(check_keras3())
    packages.append(check_kerashub())
    checks = [check_platform(), check_python(), *confirm_imports(packages)]
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
