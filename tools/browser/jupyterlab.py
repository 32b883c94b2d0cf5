"""Drive JupyterLab in Debian's Chromium, as a learner would: open a lesson, run it, answer.

Used by tests_learner/test_jupyterlab_browser.py (``make test-browser``); also runs by hand:

    .venv/bin/python tools/browser/jupyterlab.py notebooks/01_installation.ipynb \
        notebooks/solutions/01_installation.ipynb --artifacts test-artifacts

It copies the learner notebook into a temporary folder (the repository stays clean), starts
JupyterLab there the way ``make lab`` does (``jupyter lab <folder>``), headless on 127.0.0.1
with a token on a free port, and with Playwright (``executable_path=/usr/bin/chromium``, no
browser download) it:

1. opens the notebook and runs all cells from the Run menu;
2. finds the first exercise's check cell showing "not implemented yet" (screenshot 1);
3. types the solution notebook's answer into the graded cell, runs it and its check cell,
   and finds the pass line (screenshot 2).

Every wait is bounded; JupyterLab is stopped at the end, whatever happened.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
GRADED_PREFIX = "# GRADED FUNCTION:"
BEGIN_SOLUTION = "### BEGIN SOLUTION"
END_SOLUTION = "### END SOLUTION"
NOT_IMPLEMENTED = "not implemented yet"

# JupyterLab settings for the run: render every cell (no virtual scrolling, so that all
# outputs can be found) and never reach for the network (news, update checks).
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}


class BrowserRunError(RuntimeError):
    """The notebook did not behave as a learner should see it; the message says what was seen."""


# ------------------------------------------------------------------------------------------
# Notebook contents
# ------------------------------------------------------------------------------------------
def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def graded_exercises(nb: dict) -> list[tuple[str, int]]:
    """(function name, cell index) of every `# GRADED FUNCTION: name` cell, in order."""
    found = []
    for index, cell in enumerate(nb["cells"]):
        if cell.get("cell_type") != "code":
            continue
        first = _source(cell).lstrip().split("\n", 1)[0]
        if first.startswith(GRADED_PREFIX):
            found.append((first[len(GRADED_PREFIX):].strip(), index))
    return found


def solution_answer(solution_nb: dict, name: str) -> str:
    """The graded cell `name` of the solution notebook, with the solution markers removed."""
    for exercise, index in graded_exercises(solution_nb):
        if exercise == name:
            lines = _source(solution_nb["cells"][index]).split("\n")
            return "\n".join(line for line in lines if line.strip() not in {BEGIN_SOLUTION, END_SOLUTION})
    raise BrowserRunError(f"the solution notebook has no `{GRADED_PREFIX} {name}` cell")


# ------------------------------------------------------------------------------------------
# JupyterLab
# ------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Lab:
    url: str
    token: str
    root: Path
    log: Path
    process: subprocess.Popen = field(repr=False)

    def page_url(self, name: str) -> str:
        return f"{self.url}lab/tree/{name}?token={self.token}"


@contextmanager
def jupyterlab(root: Path, jupyter: Path, env: dict | None = None, start_timeout: float = 120.0):
    """Run `jupyter lab <root>` headless on 127.0.0.1 with a token and a free port; stop it after."""
    root = Path(root)
    state = Path(tempfile.mkdtemp(prefix="bertlab-lab-state-"))
    settings = state / "settings"
    for rel, value in LAB_SETTINGS.items():
        path = settings / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value), encoding="utf-8")
    token = secrets.token_hex(16)
    port = free_port()
    log = state / "jupyterlab.log"
    run_env = dict(os.environ if env is None else env)
    run_env["JUPYTER_RUNTIME_DIR"] = str(state / "runtime")
    # The same command as `make lab` (jupyter lab <folder>), plus what a headless run needs.
    command = [
        str(Path(jupyter).absolute()), "lab", str(root),
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--LabApp.user_settings_dir={settings}",
        f"--LabApp.workspaces_dir={state / 'workspaces'}",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # CI containers run as root
        command.append("--allow-root")
    with open(log, "wb") as out:
        process = subprocess.Popen(
            command, cwd=root, env=run_env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    lab = Lab(f"http://127.0.0.1:{port}/", token, root, log, process)
    try:
        deadline = time.monotonic() + start_timeout
        while True:
            if process.poll() is not None:
                raise BrowserRunError(f"JupyterLab exited with {process.returncode}:\n{_tail(log)}")
            try:
                with urllib.request.urlopen(f"{lab.url}api/status?token={token}", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise BrowserRunError(f"JupyterLab did not answer within {start_timeout:.0f} s:\n{_tail(log)}")
            time.sleep(0.5)
        yield lab
    finally:
        _stop(process)
        shutil.rmtree(state, ignore_errors=True)


def _stop(process: subprocess.Popen, grace: float = 20.0) -> None:
    """SIGTERM to JupyterLab's process group (it shuts its kernels down), SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=grace)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(timeout=10)


def _tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")[-chars:]
    except OSError:
        return "(no log)"


# ------------------------------------------------------------------------------------------
# The browser
# ------------------------------------------------------------------------------------------
@dataclass
class BrowserRun:
    exercise: str
    screenshots: list[Path]
    not_implemented_line: str
    pass_line: str
    seconds: float


def _cells(page):
    return page.locator(".jp-NotebookPanel:visible .jp-Notebook .jp-Cell")


def _kernel_state(page) -> tuple[str, str]:
    """(kernel name in the toolbar, execution indicator status) of the open notebook."""
    panel = page.locator(".jp-NotebookPanel:visible")
    name = panel.locator(".jp-Toolbar-kernelName").first
    status = panel.locator(".jp-Notebook-ExecutionIndicator").first
    return (
        name.inner_text(timeout=5000).strip() if name.count() else "",
        (status.get_attribute("data-status", timeout=5000) or "") if status.count() else "",
    )


def _answer_kernel_dialog(page) -> None:
    """JupyterLab asks for a kernel when it could not start one by itself: take the proposed one."""
    dialog = page.locator(".jp-Dialog", has_text="Select Kernel")
    if dialog.count():
        dialog.get_by_role("button", name="Select").click()


def _wait_kernel_idle(page, timeout_s: float, what: str) -> None:
    """Wait until the notebook has a kernel and it stays idle for two polls in a row."""
    deadline = time.monotonic() + timeout_s
    idle_polls = 0
    state = ("", "")
    while time.monotonic() < deadline:
        _answer_kernel_dialog(page)
        state = _kernel_state(page)
        idle_polls = idle_polls + 1 if state[0] not in ("", "No Kernel") and state[1] == "idle" else 0
        if idle_polls >= 2:
            return
        page.wait_for_timeout(1000)
    raise BrowserRunError(f"{what}: the kernel was not idle within {timeout_s:.0f} s (kernel, status = {state})")


def _wait_idle(page, timeout_s: float, what: str) -> None:
    """Wait until no cell shows the busy prompt [*] and the kernel is idle."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        busy = page.locator(".jp-NotebookPanel:visible .jp-InputPrompt", has_text="[*]").count()
        if busy == 0:
            _wait_kernel_idle(page, max(deadline - time.monotonic(), 5), what)
            if page.locator(".jp-NotebookPanel:visible .jp-InputPrompt", has_text="[*]").count() == 0:
                return
        page.wait_for_timeout(1000)
    raise BrowserRunError(f"{what}: cells still running after {timeout_s:.0f} s")


def _cell_with_text(page, text: str):
    return _cells(page).filter(has=page.locator(".jp-InputArea", has_text=text))


def _output_of(cell) -> str:
    return cell.locator(".jp-OutputArea").inner_text(timeout=10_000)


def drive(
    lab: Lab,
    notebook_name: str,
    exercise: str,
    answer: str,
    artifacts: Path,
    run_timeout_s: float = 600.0,
    prefix: str = "",
) -> BrowserRun:
    """Open the notebook, run all, see the hint, answer `exercise`, see the pass line."""
    from playwright.sync_api import sync_playwright

    artifacts = Path(artifacts)
    artifacts.mkdir(parents=True, exist_ok=True)
    shots: list[Path] = []
    start = time.monotonic()
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS, timeout=60_000
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(60_000)

            def shot(name: str) -> Path:
                path = artifacts / f"{prefix}{name}.png"
                page.screenshot(path=str(path), timeout=30_000)
                shots.append(path)
                return path

            try:
                page.goto(lab.page_url(notebook_name), wait_until="domcontentloaded", timeout=90_000)
                page.locator(".jp-NotebookPanel:visible .jp-Notebook .jp-Cell").first.wait_for(timeout=120_000)
                # The kernel starts with the notebook: wait until it can take work.
                _wait_kernel_idle(page, 180, "opening the notebook")

                # 1. Run > Run All Cells, as a learner does first.
                page.get_by_role("menuitem", name="Run", exact=True).click()
                page.get_by_role("menuitem", name=re.compile(r"^Run All Cells")).click()
                page.wait_for_timeout(2000)
                _wait_idle(page, run_timeout_s, "Run All Cells")

                errors = page.locator(
                    '.jp-NotebookPanel:visible .jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'
                    ", .jp-NotebookPanel:visible .jp-RenderedText[data-mime-type='application/vnd.jupyter.error']"
                )
                hint = page.locator(".jp-NotebookPanel:visible .jp-OutputArea-output", has_text=NOT_IMPLEMENTED)
                hint_for_exercise = hint.filter(has_text=exercise)
                if hint_for_exercise.count() == 0:
                    shot("01-run-all-unexpected")
                    seen = [e.inner_text()[:500] for e in errors.all()[:3]]
                    raise BrowserRunError(
                        f"after Run All no output shows '{exercise}: {NOT_IMPLEMENTED}'. Error outputs seen: {seen}"
                    )
                hint_line = hint_for_exercise.first.inner_text().strip()
                hint_for_exercise.first.scroll_into_view_if_needed()
                shot("01-not-implemented-hint")

                # 2. Replace the graded cell's stub with the answer, run it and its check cell.
                graded = _cell_with_text(page, f"{GRADED_PREFIX} {exercise}").first
                graded.scroll_into_view_if_needed()
                graded.locator(".cm-content").click()
                page.keyboard.press("Control+a")
                # insert_text puts the text in as one edit: no auto-indent or bracket closing.
                page.keyboard.insert_text(answer)
                typed = graded.locator(".cm-content").inner_text()
                if "NotImplementedError" in typed:
                    raise BrowserRunError("the graded cell still holds the stub after typing the answer")
                page.keyboard.press("Shift+Enter")  # run the graded cell; selects the check cell
                _wait_idle(page, 120, f"running the graded cell {exercise}")
                page.keyboard.press("Shift+Enter")  # run the check cell
                page.wait_for_timeout(1000)
                _wait_idle(page, 300, f"running the check of {exercise}")

                passed = page.locator(
                    ".jp-NotebookPanel:visible .jp-OutputArea-output", has_text=re.compile(rf"{re.escape(exercise)}: passed")
                )
                try:
                    passed.first.wait_for(timeout=30_000)
                except Exception as error:  # noqa: BLE001 - report what the page shows instead
                    shot("02-answer-unexpected")
                    raise BrowserRunError(
                        f"no '{exercise}: passed' line after answering; the check cell shows: "
                        f"{hint_for_exercise.first.inner_text()[:500] if hint_for_exercise.count() else '(hint gone)'}"
                    ) from error
                pass_line = passed.first.inner_text().strip()
                passed.first.scroll_into_view_if_needed()
                shot("02-answer-passes")
                # Save, so that JupyterLab does not hold an unsaved-changes dialog at shutdown.
                page.keyboard.press("Control+s")
                page.wait_for_timeout(1000)
            except Exception:
                if not any("unexpected" in s.name for s in shots):
                    try:
                        shot("99-failure")
                    except Exception:  # noqa: BLE001
                        pass
                raise
        finally:
            browser.close()
    return BrowserRun(exercise, shots, hint_line, pass_line, time.monotonic() - start)


def run(learner: Path, solution: Path, artifacts: Path, jupyter: Path | None = None, env: dict | None = None,
        exercise: str | None = None) -> BrowserRun:
    """The whole check on a copy of `learner` in a temporary folder."""
    learner, solution = Path(learner), Path(solution)
    solution_nb = json.loads(solution.read_text(encoding="utf-8"))
    learner_nb = json.loads(learner.read_text(encoding="utf-8"))
    exercises = graded_exercises(learner_nb)
    if not exercises:
        raise BrowserRunError(f"{learner} has no `{GRADED_PREFIX}` cell")
    name = exercise or exercises[0][0]
    answer = solution_answer(solution_nb, name)
    jupyter = Path(jupyter or Path(sys.executable).with_name("jupyter"))
    with tempfile.TemporaryDirectory(prefix="bertlab-browser-") as tmp:
        shutil.copy2(learner, Path(tmp) / learner.name)
        with jupyterlab(Path(tmp), jupyter, env=env) as lab:
            return drive(lab, learner.name, name, answer, artifacts, prefix=f"{learner.stem}-")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("learner", type=Path)
    parser.add_argument("solution", type=Path)
    parser.add_argument("--artifacts", type=Path, default=ROOT / "test-artifacts")
    parser.add_argument("--exercise", help="the graded function to answer (default: the first)")
    args = parser.parse_args(argv)
    result = run(args.learner, args.solution, args.artifacts, exercise=args.exercise)
    print(f"hint: {result.not_implemented_line}\npass: {result.pass_line}")
    for path in result.screenshots:
        print(f"screenshot: {path}")
    print(f"{result.seconds:.0f} s in the browser")
    return 0


if __name__ == "__main__":
    sys.exit(main())
