"""Run a notebook's Colab setup cell the way Colab runs it, in the Colab-like environment.

    .venv-colab/bin/python tools/colab/run_setup_cell.py notebooks/01_installation.ipynb \
        --checkout . --result result.json

Colab imports ``google.colab`` into the kernel before the first cell, so the course's setup
cell takes its Colab branch and pip-installs the course.  Here, in an IPython kernel of the
interpreter that runs this script (``.venv-colab``: Colab's image), a first hidden cell imports
the stand-in module tools/colab/google/colab, then the notebook's setup cell runs, with the
working directory a temporary folder (as Colab's /content: the checkout is not importable).

The setup cell installs ``bertlab @ git+https://github.com/...`` on Colab; here it must install
the checkout instead.  Two ways, both applied:

* ``BERTLAB_INSTALL_SOURCE`` is set in the kernel's environment to
  ``bertlab @ git+file:///checkout@<HEAD commit>`` (the committed state, as GitHub would serve it)
  (for a setup cell that honours that variable);
* a literal ``bertlab @ git+...`` requirement in the cell's source is replaced by it.

If the cell does neither, the run stops: it would install the published package, not the checkout.

The result (JSON) has the cell's source as run, its outputs as text, whether it raised, and
what the kernel saw after it: where ``bertlab`` was imported from and what ``tf.keras`` is.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SETUP_TAG = "bertlab-setup"
COLAB_TEST = '"google.colab" in sys.modules'
INSTALL_VARIABLE = "BERTLAB_INSTALL_SOURCE"
PUBLISHED_REQUIREMENT = re.compile(r"bertlab\s*@\s*git\+[^\s'\"]+")
HERE = Path(__file__).resolve().parent

PROBE = r"""
import json as _json, sys as _sys
import bertlab as _bertlab
import tensorflow as _tf
print("BERTLAB-PROBE " + _json.dumps({
    "google_colab_loaded": "google.colab" in _sys.modules,
    "bertlab_file": _bertlab.__file__,
    "tf_keras_module": _tf.keras.__name__,
    "tensorflow": _tf.__version__,
    "executable": _sys.executable,
}))
"""


class SetupCellError(RuntimeError):
    pass


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def find_setup_cell(nb: dict) -> tuple[int, str]:
    """The setup cell: tagged `bertlab-setup`, else the first code cell testing for google.colab."""
    cells = nb.get("cells", [])
    for index, cell in enumerate(cells):
        if cell.get("cell_type") == "code" and SETUP_TAG in cell.get("metadata", {}).get("tags", []):
            return index, _source(cell)
    for index, cell in enumerate(cells):
        if cell.get("cell_type") == "code" and COLAB_TEST in _source(cell):
            return index, _source(cell)
    raise SetupCellError(f"no setup cell: no code cell tagged {SETUP_TAG!r} or testing {COLAB_TEST}")


def checkout_requirement(checkout: Path) -> str:
    """`bertlab @ git+file:///checkout@<HEAD commit>`: what the checkout would publish.

    Like Colab's `git+https://github.com/...@main`, pip clones the repository at that commit,
    so uncommitted changes are not part of the test and the checkout gets no build/ folder.
    A folder that is not a git checkout is installed as it is."""
    checkout = Path(checkout).resolve()
    try:
        head = subprocess.run(
            ["git", "-C", str(checkout), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return f"bertlab @ {checkout.as_uri()}"
    return f"bertlab @ git+{checkout.as_uri()}@{head}"


def localise(source: str, requirement: str) -> str:
    """The setup cell with the published bertlab requirement replaced by the checkout."""
    new, count = PUBLISHED_REQUIREMENT.subn(requirement, source)
    if count == 0 and INSTALL_VARIABLE not in source:
        raise SetupCellError(
            "the setup cell neither names a `bertlab @ git+...` requirement nor reads "
            f"{INSTALL_VARIABLE}, so it cannot be pointed at the checkout"
        )
    return new


def _outputs_text(cell) -> list[dict]:
    out = []
    for output in cell.get("outputs", []):
        kind = output.get("output_type")
        if kind == "stream":
            out.append({"type": output.get("name"), "text": output.get("text", "")})
        elif kind == "error":
            out.append({"type": "error", "text": f"{output.get('ename')}: {output.get('evalue')}",
                        "traceback": "\n".join(output.get("traceback", []))})
        else:
            data = output.get("data", {})
            out.append({"type": kind, "text": data.get("text/plain", "")})
    return out


# A Colab TPU runtime, imitated: TensorFlow is not installed there (googlecolab/backend-info,
# pip-freeze.tpu.txt), so neither the module nor its metadata can be found; and pip may not install
# anything, since the cell must stop before it gets there.
TPU_PREAMBLE = """
import importlib.metadata as _metadata
sys.modules["tensorflow"] = None  # importlib.util.find_spec("tensorflow") -> None, `import tensorflow` fails
_version = _metadata.version
def _no_tensorflow(name):
    if name.lower().replace("_", "-") in ("tensorflow", "tensorflow-cpu", "tf-keras", "tensorflow-text", "tensorflow-hub"):
        raise _metadata.PackageNotFoundError(name)
    return _version(name)
_metadata.version = _no_tensorflow
"""
RUNTIMES = ("gpu", "tpu")


def run(notebook: Path, checkout: Path, timeout: int = 1200, runtime: str = "gpu") -> dict:
    nb = json.loads(Path(notebook).read_text(encoding="utf-8"))
    index, source = find_setup_cell(nb)
    result = run_source(source, checkout, timeout, runtime)
    return {"notebook": str(notebook), "cell_index": index, **result}


def run_source(source: str, checkout: Path, timeout: int = 1200, runtime: str = "gpu") -> dict:
    """Run the setup cell ``source`` in a kernel of this interpreter as Colab would (``runtime="tpu"``:
    as on a TPU runtime, which has no TensorFlow; pip then runs dry, from no index)."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    if runtime not in RUNTIMES:
        raise ValueError(f"runtime is one of {RUNTIMES}, not {runtime!r}")
    requirement = checkout_requirement(checkout)
    source_run = localise(source, requirement)

    preamble = (
        "# What Colab does before the first cell: google.colab is imported.\n"
        f"import sys\nsys.path.insert(0, {str(HERE)!r})\nimport google.colab\n"
    ) + (TPU_PREAMBLE if runtime == "tpu" else "")
    run_nb = nbformat.v4.new_notebook()
    run_nb.cells = [
        nbformat.v4.new_code_cell(preamble),
        nbformat.v4.new_code_cell(source_run),
        nbformat.v4.new_code_cell(PROBE),
    ]
    bin_dir = str(Path(sys.executable).parent)
    os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")  # `!pip` finds this pip
    os.environ[INSTALL_VARIABLE] = requirement
    if runtime == "tpu":
        os.environ.update(PIP_DRY_RUN="1", PIP_NO_INDEX="1")
    result = {
        "source": source,
        "source_run": source_run,
        "requirement": requirement,
        "runtime": runtime,
    }
    with tempfile.TemporaryDirectory(prefix="bertlab-colab-content-") as content:
        client = NotebookClient(
            run_nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": content}},
            allow_errors=False,
        )
        start = time.monotonic()
        try:
            client.execute()
            result["raised"] = None
        except CellExecutionError as error:
            result["raised"] = str(error)[-4000:]
        result["seconds"] = round(time.monotonic() - start, 1)
    result["setup_outputs"] = _outputs_text(run_nb.cells[1])
    probe = [o for o in _outputs_text(run_nb.cells[2]) if "BERTLAB-PROBE " in o["text"]]
    result["probe"] = json.loads(probe[0]["text"].split("BERTLAB-PROBE ", 1)[1]) if probe else None
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("notebook", type=Path)
    parser.add_argument("--checkout", type=Path, default=HERE.parents[1])
    parser.add_argument("--result", type=Path, help="write the result here as JSON (default: stdout)")
    parser.add_argument("--timeout", type=int, default=1200, help="seconds the setup cell may take")
    parser.add_argument("--runtime", choices=RUNTIMES, default="gpu", help="tpu: as on Colab's TPU runtime (no TensorFlow)")
    args = parser.parse_args(argv)
    result = run(args.notebook, args.checkout, args.timeout, args.runtime)
    text = json.dumps(result, indent=1)
    if args.result:
        args.result.write_text(text, encoding="utf-8")
    else:
        print(text)
    return 0 if result["raised"] is None else 1


if __name__ == "__main__":
    sys.exit(main())
