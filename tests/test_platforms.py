"""Which computers the course installs on: the check `make lab` runs first, the doctor's row, and
tools/platforms.py, which asks PyPI whether requirements.txt resolves on each platform."""
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from bertlab import doctor, env
from bertlab.doctor import FAIL, OK
from tools import platforms

ROOT = Path(__file__).resolve().parent.parent


def simulate(monkeypatch, system, machine, sys_platform, mac_version="14.5"):
    monkeypatch.setattr(platform, "system", lambda: system)
    monkeypatch.setattr(platform, "machine", lambda: machine)
    monkeypatch.setattr(platform, "mac_ver", lambda: (mac_version, ("", "", ""), machine))
    monkeypatch.setattr(sys, "platform", sys_platform)


@pytest.mark.parametrize("system, machine, sys_platform", [
    ("Linux", "x86_64", "linux"), ("Linux", "aarch64", "linux"), ("Darwin", "arm64", "darwin")])
def test_platforms_with_wheels_for_every_pin_pass(monkeypatch, system, machine, sys_platform):
    simulate(monkeypatch, system, machine, sys_platform)
    assert env.platform_problem() is None
    assert doctor.check_platform().status == OK


def test_windows_is_sent_to_wsl2_or_colab_naming_tensorflow_text(monkeypatch):
    simulate(monkeypatch, "Windows", "AMD64", "win32")
    problem = env.platform_problem()
    assert problem.startswith("Windows: tensorflow-text") and "since 2.10" in problem
    assert "WSL2" in problem and "Colab" in problem
    check = doctor.check_platform()
    assert (check.name, check.status) == ("computer", FAIL)
    assert check.detail.startswith("Windows amd64: tensorflow-text") and "WSL2" in check.fix


def test_a_windows_make_under_git_bash_is_caught_too(monkeypatch):
    simulate(monkeypatch, "MINGW64_NT-10.0-22631", "x86_64", "msys")
    assert env.platform_problem().startswith("Windows:")


def test_intel_mac_or_rosetta_python_is_told_to_use_an_arm64_python(monkeypatch):
    simulate(monkeypatch, "Darwin", "x86_64", "darwin")
    problem = env.platform_problem()
    assert "last Intel-Mac wheel is 2.16" in problem and "arm64 Python" in problem and "Colab" in problem


def test_macos_older_than_12_fails(monkeypatch):
    simulate(monkeypatch, "Darwin", "arm64", "darwin", mac_version="11.7.10")
    assert "macOS 11.7.10" in env.platform_problem() and "macOS 12 or newer" in env.platform_problem()


def test_other_processors_and_systems_fail_naming_what_is_supported(monkeypatch):
    simulate(monkeypatch, "Linux", "ppc64le", "linux")
    assert "x86_64 and aarch64 only" in env.platform_problem()
    simulate(monkeypatch, "FreeBSD", "amd64", "freebsd14")
    assert "Linux x86_64, Linux aarch64, macOS arm64 (12 or newer) only" in env.platform_problem()


def test_the_doctor_reports_the_computer_first(monkeypatch):
    simulate(monkeypatch, "Windows", "AMD64", "win32")
    monkeypatch.setattr(doctor, "confirm_imports", lambda checks: checks)
    for name in ("check_keras2", "check_gpus"):
        monkeypatch.setattr(doctor, name, lambda: doctor.Check("stub", OK, ""))
    for name in ("check_embedded_model", "check_data", "check_hubs"):
        monkeypatch.setattr(doctor, name, lambda: [])
    first = doctor.run_checks()[0]
    assert (first.name, first.status) == ("computer", FAIL)


SIMULATE_WINDOWS = (
    "import platform, runpy, sys; platform.system = lambda: 'Windows'; platform.machine = lambda: 'AMD64'; "
    "sys.platform = 'win32'; runpy.run_path(sys.argv[1], run_name='__main__')"
)


def test_the_makefile_check_stops_on_windows_with_the_message_and_no_traceback():
    # -I -S: no site-packages, as a bare system Python before pip has installed anything.
    proc = subprocess.run([sys.executable, "-I", "-S", "-c", SIMULATE_WINDOWS, str(ROOT / "bertlab" / "env.py")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.startswith("bertlab cannot be installed on this computer (Windows amd64).\nWindows: tensorflow-text")
    assert "WSL2" in proc.stderr and "Traceback" not in proc.stderr and proc.stdout == ""


def test_the_makefile_check_passes_silently_here():
    proc = subprocess.run([sys.executable, "-I", "-S", str(ROOT / "bertlab" / "env.py")], capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")


def test_a_python_without_tensorflow_wheels_is_stopped_too():
    assert env.python_problem((3, 11, 7)) is None and env.python_problem((3, 13, 0)) is None
    assert env.python_problem((3, 14, 1)).startswith("Python 3.14: TensorFlow 2.21 publishes wheels for Python 3.10 to 3.13")
    assert "make lab PYTHON=python3.11" in env.python_problem((3, 9, 18))
    assert env.PYTHON_RANGE == doctor.PYTHON_RANGE


# --- tools/platforms.py, with pip's answers recorded -----------------------------------------------

PIP_NO_WHEEL = (
    "ERROR: Could not find a version that satisfies the requirement tensorflow-text==2.21.1 (from versions: 2.9.0, 2.10.0)\n"
    "ERROR: No matching distribution found for tensorflow-text==2.21.1\n"
)


def test_first_missing_reads_pips_message():
    assert platforms.first_missing(PIP_NO_WHEEL) == "tensorflow-text==2.21.1"
    assert platforms.first_missing("ERROR: Could not find a version that satisfies the requirement foo>=2\n") == "foo>=2"
    assert platforms.first_missing("ERROR: something else") is None


def test_linux_tags_cover_manylinux_2_27_wheels():
    # TensorFlow 2.21's aarch64 wheels are tagged manylinux_2_27 only: the legacy tag alone misses them.
    tags = platforms.manylinux("aarch64")
    assert "manylinux_2_27_aarch64" in tags and "manylinux2014_aarch64" in tags and "manylinux_2_35_aarch64" in tags
    assert "manylinux_2_36_aarch64" not in tags


def fake_pip(missing_on):
    """run_pip as PyPI would answer: tensorflow-text has no wheel for the platform tags in ``missing_on``."""
    calls = []

    def run(args, **_):
        calls.append(args)
        if "--platform" not in args:  # the source-only pins, on this machine
            return {"install": [
                {"metadata": {"name": "keras-bert", "version": "0.89.0", "requires_dist": ["keras-transformer==0.40.0"]},
                 "download_info": {"url": "https://files/keras-bert-0.89.0.tar.gz"}},
                {"metadata": {"name": "keras-transformer", "version": "0.40.0", "requires_dist": ["numpy"]},
                 "download_info": {"url": "https://files/keras-transformer-0.40.0.tar.gz"}},
            ]}, ""
        if set(args) & set(missing_on) and any(a.startswith("tensorflow-text") for a in args):
            return None, PIP_NO_WHEEL
        names = [a.split("==")[0] for a in args if "==" in a or a == "numpy"]
        return {"install": [{"metadata": {"name": n, "version": "2.21.0"}, "download_info": {"url": f"https://f/{n}.whl"}}
                            for n in names]}, ""

    return run, calls


def test_check_all_resolves_each_platform_and_names_the_first_missing_wheel(monkeypatch, tmp_path):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("# pins\ntensorflow==2.21.0\ntensorflow-text==2.21.1  # ops\nkeras-bert==0.89.0\n")
    run, calls = fake_pip(missing_on=["win_amd64"])
    monkeypatch.setattr(platforms, "run_pip", run)
    results = {r.name: r for r in platforms.check_all(requirements)}
    assert results["Windows amd64"].resolves is False
    assert results["Windows amd64"].first_missing == "tensorflow-text==2.21.1"
    linux = results["Linux x86_64"]
    assert linux.resolves and linux.first_missing is None and "tensorflow 2.21.0" in linux.detail
    # The source-only keras-bert is resolved once, off-platform; what it needs with wheels (numpy) joins each platform.
    platform_calls = [c for c in calls if "--platform" in c and "--no-deps" not in c]
    assert all("keras-bert==0.89.0" not in c and "numpy" in c and "tensorflow-text==2.21.1" in c for c in platform_calls)
    # The embedded model alone, without its PyTorch dependencies, as the Makefile installs it.
    assert any("--no-deps" in c and platforms.embedded_model_pin() in c for c in calls)


def test_main_exits_1_when_a_promised_platform_fails_and_writes_json(monkeypatch, tmp_path, capsys):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("tensorflow==2.21.0\ntensorflow-text==2.21.1\n")
    run, _ = fake_pip(missing_on=["macosx_12_0_arm64", "win_amd64"])
    monkeypatch.setattr(platforms, "run_pip", run)
    out = tmp_path / "platforms.json"
    assert platforms.main(["--requirements", str(requirements), "--json", str(out)]) == 1
    table = capsys.readouterr().out
    assert "FAIL: the README promises macOS arm64" in table
    rows = {p["name"]: p for p in json.loads(out.read_text())["platforms"]}
    assert rows["macOS arm64"]["resolves"] is False and rows["macOS arm64"]["promised"] is True
    assert rows["Linux x86_64"]["resolves"] is True


def test_main_exits_0_when_only_unpromised_platforms_fail(monkeypatch, tmp_path, capsys):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("tensorflow==2.21.0\ntensorflow-text==2.21.1\n")
    monkeypatch.setattr(platforms, "run_pip", fake_pip(missing_on=["win_amd64"])[0])
    assert platforms.main(["--requirements", str(requirements)]) == 0
    assert "Windows amd64  not promised  NO        tensorflow-text==2.21.1" in capsys.readouterr().out


def test_no_network_is_exit_2_not_a_verdict(monkeypatch, tmp_path, capsys):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("tensorflow==2.21.0\n")
    monkeypatch.setattr(platforms, "run_pip", lambda args, **_: (None, "ERROR: Could not install: connection refused\n"))
    assert platforms.main(["--requirements", str(requirements)]) == 2


def test_promised_platforms_agree_with_the_makefile_check():
    names = {"Linux x86_64": ("Linux", "x86_64"), "Linux aarch64": ("Linux", "aarch64"), "macOS arm64": ("Darwin", "arm64"),
             "Windows amd64": ("Windows", "AMD64"), "macOS x86_64": ("Darwin", "x86_64")}
    for target in platforms.PLATFORMS:
        system, machine = names[target.name]
        passes = env.platform_problem(system, machine, mac_version="14.0", sys_platform=system.lower()) is None
        assert passes == target.promised, target.name


# The real question, asked of PyPI (about 1.5 minutes), is CI's `make platforms` stage: it prints
# the table and fails when a promised platform does not resolve.
