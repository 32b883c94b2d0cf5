"""Scoring sealed off from the notebook (issue 23, part 6): the attacks, as crafted notebooks.

Each attack below gave points (or changed another notebook's grade, or the gradebook) when the
notebook's code ran in the graders' process; now the notebook runs in a learner process
(bertlab.grading.worker's docstring: the threat model). The class is scored together, each
notebook alone, and shuffled in the fallback mode (no namespaces), and must get the same grades.
"""
from __future__ import annotations

import contextlib
import csv
import hashlib
import inspect
import io
import json
import os
import random
import subprocess
import time
from pathlib import Path

import nbformat
import numpy as np
import pytest
from test_grading import ARGS_03, RIGHT_03, SETUP, ZEROS, _lesson03

import bertlab.encoder
from bertlab.grading import core
from bertlab.grading.__main__ import main

NAMESPACES = subprocess.run(["sh", "-c", "unshare --user --map-root-user --mount --pid --net --fork true"],
                            capture_output=True).returncode == 0

# A class body that swaps the code of the graders' run_grader for one that gives full points: in
# the code's new globals (core's), Result is the core's own.
CODE_PATCH = ("class Sneaky:\n"
              "    import bertlab.grading.core as core\n"
              "    def full(g, learner_fn):\n"
              "        return Result(g.name, g.points, g.points, 'passed')\n"
              "    core.run_grader.__code__ = full.__code__\n")
# Result lines (and a done) written to every file descriptor, where the worker's answer channel was.
FD_WRITER = ("def forge(_=None):\n"
             "    import json, os\n"
             "    lines = ''.join(json.dumps({'kind': 'result', 'name': n, 'points': 2, 'max_points': 2,\n"
             "                                'status': 'passed', 'message': '', 'notes': []}) + '\\n'\n"
             f"                    for n in {list(ARGS_03)!r}) + json.dumps({{'kind': 'done'}}) + '\\n'\n"
             "    for fd in range(256):\n"
             "        try:\n"
             "            os.write(fd, lines.encode())\n"
             "        except OSError:\n"
             "            pass\n"
             "class Forged:\n"
             "    forge()\n")
# Expected values read from the grader's frame (masked_mean_pool's `want`) and from the graders'
# cached cases found with gc (most_different_layer: the case whose vectors are the ones given).
FRAME_READER = {
    "masked_mean_pool": ("    import sys\n"
                         "    frame = sys._getframe(1)\n"
                         "    while frame is not None:\n"
                         "        if 'want' in frame.f_locals:\n"
                         "            return frame.f_locals['want']\n"
                         "        frame = frame.f_back\n" + ZEROS),
    "most_different_layer": ("    import functools, gc\n"
                             "    for obj in gc.get_objects():\n"
                             "        if isinstance(obj, functools._lru_cache_wrapper) and obj.cache_info().currsize \\\n"
                             "                and getattr(obj, '__module__', '') == 'bertlab.grading.lesson03':\n"
                             "            try:\n"
                             "                cases = obj()\n"
                             "            except TypeError:\n"
                             "                continue\n"
                             "            for case in cases if isinstance(cases, (list, tuple)) else []:\n"
                             "                if isinstance(case, tuple) and len(case) == 4 and np.shape(case[1]) == np.shape(vectors_a) \\\n"
                             "                        and np.array_equal(case[1], vectors_a) and np.array_equal(case[2], vectors_b):\n"
                             "                    return int(sorted(case[3])[0]) if isinstance(case[3], (set, frozenset, list, tuple)) else case[3]\n"
                             "    return 0"),
}
# Right only when the course's solution notebooks can be read (found from bertlab.__file__).
PEEKER = ("    import os, bertlab\n"
          "    folder = os.path.join(os.path.dirname(os.path.dirname(bertlab.__file__)), 'notebooks', 'solutions')\n"
          "    if not any(n.endswith('.ipynb') for n in (os.listdir(folder) if os.path.isdir(folder) else [])):\n"
          "        " + ZEROS.strip() + "\n" + RIGHT_03["masked_mean_pool"])
COPY_OF_COURSE = inspect.getsource(bertlab.encoder.masked_mean_pool)
COPY_EXEC = ("    import inspect\n"
             "    import bertlab.encoder as encoder\n"
             "    found = {}\n"
             "    exec(inspect.getsource(encoder.masked_mean_pool), dict(vars(encoder)), found)\n"
             "    return found['masked_mean_pool'](sequence_output, input_mask)")


def _overwrite(victim: Path, right: Path) -> str:
    return f"def overwrite(_=open({str(victim)!r}, 'w').write(open({str(right)!r}).read())):\n    pass"


def _detached(gradebook: Path, audit: Path) -> str:
    """A default argument that double-forks a process out of the session; it waits for the
    gradebook to be written, then rewrites it and the audit CSV."""
    return ("import os\n"
            "def leave_behind():\n"
            "    if os.fork():\n"
            "        return\n"
            "    os.setsid()\n"
            "    if os.fork():\n"
            "        os._exit(0)\n"
            "    os.closerange(0, 4096)\n"
            "    import time\n"
            "    for _ in range(1200):\n"
            f"        if os.path.exists({str(gradebook)!r}):\n"
            "            time.sleep(0.5)\n"
            f"            for path in ({str(gradebook)!r}, {str(audit)!r}):\n"
            "                try:\n"
            "                    with open(path, 'w') as file:\n"
            "                        file.write('student,total\\nmallory,1000\\n')\n"
            "                except OSError:\n"
            "                    pass\n"
            "            os._exit(0)\n"
            "        time.sleep(0.1)\n"
            "    os._exit(0)\n"
            "def spawn(_=leave_behind()):\n"
            "    pass")


def _copy_at_another_line(folder: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell(SETUP))
    nb.cells.append(nbformat.v4.new_code_cell("# GRADED FUNCTION: masked_mean_pool\n\n\n\n" + COPY_OF_COURSE))
    nb.cells.append(nbformat.v4.new_code_cell('check("lesson03.masked_mean_pool", masked_mean_pool)'))
    path = folder / "03_copy.ipynb"
    nbformat.write(nb, path)
    return path


def _class(root: Path) -> dict[str, Path]:
    """The crafted class: one folder per student, one lesson-03 notebook each."""
    folders = {name: root / name for name in ("amy", "carl", "dora", "eve", "frank", "gina", "hugo", "ivan",
                                              "kim", "zed")}
    for folder in folders.values():
        folder.mkdir(parents=True)
    grades = root / "out"
    grades.mkdir()
    victim = folders["zed"] / "03_untouched.ipynb"
    paths = {
        "right": _lesson03(folders["amy"], "03_right.ipynb", RIGHT_03),
        "code_patch": _lesson03(folders["carl"], "03_code_patch.ipynb", dict.fromkeys(RIGHT_03, ZEROS),
                                before=[CODE_PATCH]),
        "fd_writer": _lesson03(folders["dora"], "03_fd_writer.ipynb", dict.fromkeys(RIGHT_03, ZEROS), before=[FD_WRITER]),
        "frame_reader": _lesson03(folders["eve"], "03_frames.ipynb", FRAME_READER),
        "overwriter": _lesson03(folders["frank"], "03_overwriter.ipynb",
                                {"most_different_layer": RIGHT_03["most_different_layer"]},
                                before=[_overwrite(victim, folders["amy"] / "03_right.ipynb")]),
        "detached": _lesson03(folders["gina"], "03_detached.ipynb", {"most_different_layer": RIGHT_03["most_different_layer"]},
                              before=[_detached(grades / "gradebook.csv", grades / "audit.csv")]),
        "copy_line": _copy_at_another_line(folders["hugo"]),
        "copy_exec": _lesson03(folders["ivan"], "03_copy_exec.ipynb", {"masked_mean_pool": COPY_EXEC}),
        "peeker": _lesson03(folders["kim"], "03_peeker.ipynb", {"masked_mean_pool": PEEKER}),
        "untouched": _lesson03(folders["zed"], "03_untouched.ipynb", {}),
    }
    return paths


def _score(paths: list[Path], out: Path, *extra: str) -> dict:
    """One scorer command over `paths`: {notebook file name: its JSON}, with the gradebook's bytes."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        main(["score", *map(str, paths), "--json", "--gradebook", str(out / "gradebook.csv"), "--csv",
              str(out / "audit.csv"), "--timeout", "60", "--notebook-timeout", "240", *extra])
    payload = json.loads(buffer.getvalue())
    return {"notebooks": {Path(n["path"]).name: n for n in payload["notebooks"]},
            "gradebook": (out / "gradebook.csv").read_bytes(), "audit": (out / "audit.csv").read_bytes()}


def _points(notebook: dict) -> dict[str, int]:
    return {e["name"]: e["points"] for e in notebook["exercises"]}


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    """The class scored together, each notebook alone, then shuffled with BERTLAB_SANDBOX=fallback;
    the files are put back as they were before each run (in the fallback a notebook can change them)."""
    root = tmp_path_factory.mktemp("class")
    paths = _class(root)
    originals = {path: path.read_bytes() for path in paths.values()}
    out = root / "out"

    def restore():
        for path, content in originals.items():
            path.write_bytes(content)

    together = _score(list(paths.values()), out)
    time.sleep(4)  # a process left behind would rewrite the gradebook now
    after = {"gradebook": (out / "gradebook.csv").read_bytes(), "audit": (out / "audit.csv").read_bytes()}
    victim_after = paths["untouched"].read_bytes()
    restore()
    alone = {}
    for key, path in paths.items():
        single = root / f"alone-{key}"
        single.mkdir()
        alone[key] = _score([path], single)["notebooks"][path.name]
        restore()
    shuffled_paths = list(paths.values())
    random.Random(23).shuffle(shuffled_paths)
    previous = os.environ.get("BERTLAB_SANDBOX")
    os.environ["BERTLAB_SANDBOX"] = "fallback"
    try:
        fallback_out = root / "fallback"
        fallback_out.mkdir()
        shuffled = _score(shuffled_paths, fallback_out)
        time.sleep(4)
        fallback_after = (fallback_out / "gradebook.csv").read_bytes()
    finally:
        if previous is None:
            os.environ.pop("BERTLAB_SANDBOX")
        else:
            os.environ["BERTLAB_SANDBOX"] = previous
    restore()
    return {"paths": paths, "together": together, "after": after, "alone": alone, "shuffled": shuffled,
            "fallback_after": fallback_after, "victim_after": victim_after, "victim_before": originals[paths["untouched"]]}


def _nb(scored, key, run="together"):
    name = scored["paths"][key].name
    return scored[run]["notebooks"][name] if run != "alone" else scored["alone"][key]


@pytest.mark.slow
def test_a_class_body_replacing_run_grader_code_gives_no_points(scored):
    assert _nb(scored, "code_patch")["points"] == 0
    assert _nb(scored, "right")["points"] == 6


@pytest.mark.slow
def test_result_lines_written_to_every_file_descriptor_give_no_points(scored):
    notebook = _nb(scored, "fd_writer")
    assert notebook["points"] == 0
    assert {e["status"] for e in notebook["exercises"]} <= {"failed", "error"}


@pytest.mark.slow
def test_the_graders_frames_and_cached_cases_are_out_of_the_notebooks_reach(scored):
    assert _points(_nb(scored, "frame_reader")) == {"masked_mean_pool": 0, "most_different_layer": 0,
                                                    "scaled_dot_product_attention": 0}


@pytest.mark.slow
def test_a_notebook_overwriting_a_classmates_notebook_changes_nothing(scored):
    assert _nb(scored, "untouched")["points"] == 0  # 6/6 when the copy of the right notebook was read
    assert _nb(scored, "untouched", "alone")["points"] == 0
    assert any("wrote outside its folder" in flag and "03_untouched.ipynb" in flag
               for flag in _nb(scored, "overwriter")["flags"])
    rows = list(csv.DictReader(io.StringIO(scored["together"]["gradebook"].decode())))
    frank = next(r for r in rows if r["student"] == "frank")
    assert "wrote outside its folder" in frank["flags"]


@pytest.mark.slow
@pytest.mark.skipif(not NAMESPACES, reason="user namespaces are refused here: the fallback lets a notebook write "
                                           "outside its folder (its classmates' grades still hold, tested above)")
def test_with_namespaces_the_classmates_file_is_not_even_written_nor_the_solutions_read(scored):
    assert scored["victim_after"] == scored["victim_before"]
    assert _nb(scored, "right")["sandbox"] == "namespaces"
    assert _points(_nb(scored, "peeker"))["masked_mean_pool"] == 0
    assert _points(_nb(scored, "peeker", "shuffled"))["masked_mean_pool"] == 2  # the fallback hides nothing


@pytest.mark.slow
def test_a_detached_process_cannot_rewrite_the_gradebook_after_the_scorer(scored):
    assert scored["after"]["gradebook"] == scored["together"]["gradebook"]
    assert scored["after"]["audit"] == scored["together"]["audit"]
    assert b"1000" not in scored["after"]["gradebook"]
    assert scored["fallback_after"] == scored["shuffled"]["gradebook"]  # the subreaper's kill, in the fallback
    assert _points(_nb(scored, "detached"))["most_different_layer"] == 2


@pytest.mark.slow
def test_a_copy_of_the_courses_answer_is_recognised_and_flagged(scored):
    for key in ("copy_line", "copy_exec"):
        notebook = _nb(scored, key)
        result = next(e for e in notebook["exercises"] if e["name"] == "masked_mean_pool")
        assert result["points"] == 0, key
        assert "copy of bertlab.encoder.masked_mean_pool, the course's own answer" in result["message"], key
    rows = list(csv.DictReader(io.StringIO(scored["together"]["gradebook"].decode())))
    for student in ("hugo", "ivan"):
        row = next(r for r in rows if r["student"] == student)
        assert "the course's own answer used" in row["flags"], student


@pytest.mark.slow
def test_the_class_gets_the_same_grades_together_alone_and_shuffled_in_the_fallback(scored):
    for key in scored["paths"]:
        together = _points(_nb(scored, key))
        assert _points(_nb(scored, key, "alone")) == together, key
        if key != "peeker" or not NAMESPACES:  # it reads the solutions, which only the namespaces hide
            assert _points(_nb(scored, key, "shuffled")) == together, key
    assert {_nb(scored, key, "shuffled")["sandbox"] for key in scored["paths"] if _nb(scored, key, "shuffled")["sandbox"]} \
        == {"fallback"}


# ---------------------------------------------------------------------------------------
# The wire, without processes
# ---------------------------------------------------------------------------------------
def test_the_judge_decodes_plain_data_and_arrays_without_pickle():
    from bertlab.grading import sealed

    value = {"a": [1, 2.5, None, True, "x"], ("t", 1): np.arange(6, dtype=np.int16).reshape(2, 3),
             "s": {1, 2}, "b": b"\x00\xff", "c": 1 + 2j, "g": np.float32(0.5), "z": np.zeros(())}
    back = sealed.decode(sealed.encode(value))
    assert back["a"] == [1, 2.5, None, True, "x"] and back["s"] == {1, 2} and back["b"] == b"\x00\xff"
    assert back[("t", 1)].dtype == np.int16 and back[("t", 1)].tolist() == [[0, 1, 2], [3, 4, 5]]
    assert back["c"] == 1 + 2j and back["g"] == np.float32(0.5) and type(back["g"]) is np.float32
    assert back["z"].shape == ()


def test_a_pickled_object_array_from_the_learner_is_refused():
    from bertlab.grading import sealed

    buffer = io.BytesIO()
    np.save(buffer, np.array([{"x": 1}], dtype=object), allow_pickle=True)
    blob = buffer.getvalue()
    header = json.dumps({"m": {"a": 0}, "n": 1}).encode()
    import struct

    payload = struct.pack(">Q", len(header)) + header + struct.pack(">Q", len(blob)) + blob
    with pytest.raises(sealed.BadMessage):
        sealed.decode(payload)
    with pytest.raises(sealed.BadMessage):
        sealed.decode(b"\x00" * 3)
    with pytest.raises(sealed.BadMessage):
        sealed.decode(struct.pack(">Q", 9) + b'{"m": {"x": 1}, "n": 0}'[:9])


def test_the_courses_code_run_from_exec_or_at_another_line_fails_in_process_too():
    g = core.get_grader("lesson03.masked_mean_pool")
    namespace: dict = {"np": np}
    exec(compile("\n\n\n" + COPY_OF_COURSE, "<cell 4>", "exec"), namespace)
    result = core.run_grader(g, namespace["masked_mean_pool"])
    assert result.points == 0 and "copy of bertlab.encoder.masked_mean_pool" in result.message
    assert result.notes == ["copied bertlab.encoder.masked_mean_pool"]
    right: dict = {"np": np}
    exec("def masked_mean_pool(sequence_output, input_mask):\n" + RIGHT_03["masked_mean_pool"], right)
    assert core.run_grader(g, right["masked_mean_pool"]).points == 2


def test_each_built_object_gets_its_own_recipe_even_at_a_reused_address():
    """A learner process caches what it built by token: a new object (a fresh ShiftedTokenizer per
    case) must never be taken for an old one, whatever restore_modules puts back."""
    class Made:
        pass

    tokens = []
    for _ in range(6):
        made = core.built(Made)
        tokens.append(core._recipe_of(made)[0])
        core.restore_modules()
        del made
    assert len(set(tokens)) == 6


WRONG_05 = {
    "build_classifier": ("import tensorflow as tf\n"
                         "from bertlab.grading.lesson05 import _reference_classifier\n"
                         "# GRADED FUNCTION: build_classifier\n"
                         "def build_classifier(encoder, num_labels, peak_lr, total_steps):\n"
                         "    return _reference_classifier(encoder, num_labels, peak_lr, total_steps,\n"
                         "                                 optimizer=tf.keras.optimizers.Adam(1e-3))"),
    "predict_pair": ("import tensorflow as tf\n"
                     "from bertlab.grading.lesson05 import _tokenizer\n"
                     "# GRADED FUNCTION: predict_pair\n"
                     "def predict_pair(model, tokenizer, sentence1, sentence2):\n"
                     "    encoded = _tokenizer()(sentence1, sentence2, return_tensors='tf')\n"
                     "    probabilities = tf.nn.softmax(model(dict(encoded), training=False), axis=-1).numpy()[0]\n"
                     "    return int(probabilities.argmax()), probabilities"),
}


@pytest.mark.slow
def test_objects_built_from_recipes_and_measured_by_probes_judge_wrong_answers_when_sealed(tmp_path):
    """lesson05's objects live in the learner process: a fixed Adam and a predict_pair that ignores
    the tokenizer it is given still get their hints there (the probes measure the learner's copies)."""
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell(SETUP))
    for name, source in WRONG_05.items():
        imports, graded = source.split("# GRADED FUNCTION", 1)
        nb.cells.append(nbformat.v4.new_code_cell(imports))
        nb.cells.append(nbformat.v4.new_code_cell("# GRADED FUNCTION" + graded))
        nb.cells.append(nbformat.v4.new_code_cell(f'check("lesson05.{name}", {name})'))
    path = tmp_path / "05_wrong.ipynb"
    nbformat.write(nb, path)
    notebook = _score([path], tmp_path)["notebooks"][path.name]
    messages = {e["name"]: e["message"] for e in notebook["exercises"]}
    assert _points(notebook) == {"warmup_linear_decay": 0, "build_classifier": 0, "predict_pair": 0}
    assert "learning rate at step 0 is 0.001, expected 0" in messages["build_classifier"]
    assert "called it 0 times" in messages["predict_pair"]


def test_a_checkout_under_tmp_stays_visible_to_the_learner_process_but_the_class_does_not(tmp_path, monkeypatch):
    """A fresh tmpfs covers /tmp in the namespace: a checkout there (a CI runner's, an editable install,
    which puts no folder on sys.path) is bound back, a class folder never is."""
    from bertlab.grading import learner

    package = tmp_path / "checkout" / "bertlab" / "grading"
    package.mkdir(parents=True)
    monkeypatch.setattr(learner, "__file__", str(package / "learner.py"))
    classroom = tmp_path / "class"
    (classroom / "alice").mkdir(parents=True)
    monkeypatch.setenv("BERTLAB_DATA", str(classroom / "alice"))
    (tmp_path / "data").mkdir()
    monkeypatch.setenv("HF_HOME", str(tmp_path / "data"))
    found = learner._needed_under([str(tmp_path)], [str(classroom)])
    assert str(tmp_path / "checkout") in found and str(tmp_path / "data") in found
    assert not any((f + "/").startswith(str(classroom) + "/") for f in found)
    assert str(tmp_path) not in found
