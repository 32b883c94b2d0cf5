"""The one place that touches the process environment: Keras 2, seeds, devices, strategy.

Importing :mod:`bertlab` calls :func:`select_keras2` before anything imports TensorFlow,
because TF Hub layers, transformers' TF classes and keras-bert only work with Keras 2
(the ``tf-keras`` package), while TensorFlow >= 2.16 picks Keras 3 unless told otherwise.
"""
from __future__ import annotations

import contextlib
import logging
import os
import platform
import random
import sys
import warnings

if __name__ == "__main__" and not __package__:
    # `make setup` runs this file alone (python -I bertlab/env.py), before bertlab is installed, for its
    # platform check: standard library only there.
    class BertlabError(Exception):
        """Stands in for bertlab.errors.BertlabError when this file runs alone."""
else:
    from bertlab.errors import BertlabError

KERAS2_VARIABLES = {
    "TF_USE_LEGACY_KERAS": "1",  # tf.keras -> tf_keras (Keras 2)
    "TF_KERAS": "1",  # keras-bert: build on tf.keras instead of standalone keras
}
# Quiet TensorFlow's C++ start-up chatter on stderr unless the user asked for it.
# TF_ENABLE_ONEDNN_OPTS is left to TensorFlow: it switches oneDNN's faster CPU kernels on by
# itself on CPUs with AVX512-VNNI/BF16 or AMX (benchmarks/cpu_speed.py measures them). Its
# "oneDNN custom operations are on" line is logged before absl's logging starts, so no
# variable hides it; notebooks/sanitize.cfg removes it, with the other TF log lines, from
# checked outputs.
QUIET_VARIABLES = {"TF_CPP_MIN_LOG_LEVEL": "3"}

RESTART_HINT = (
    "Restart the kernel (or the Python process) and run `import bertlab` before "
    "importing tensorflow, keras, tensorflow_hub or transformers."
)


# --- Which computers the course installs on ------------------------------------------------------
# Checked by tools/platforms.py (CI): the whole requirements.txt resolves to wheels on PyPI for
# these, for Python 3.11. Elsewhere a wheel is missing, so `make lab` would fail inside pip.
SUPPORTED_PLATFORMS = ("Linux x86_64", "Linux aarch64", "macOS arm64 (12 or newer)")
COLAB = "Google Colab (any browser; see the README's \"Which computer?\")"
MACOS_MINIMUM = (12, 0)
# TensorFlow 2.21's wheels are built for these Pythons (the doctor's PYTHON_RANGE says the same).
PYTHON_RANGE = ((3, 10), (3, 13))


def platform_problem(system: str | None = None, machine: str | None = None, mac_version: str | None = None,
                     sys_platform: str | None = None) -> str | None:
    """None when the course's pinned requirements install on this computer, else one line saying why not
    and what to do instead. The arguments default to this machine (``platform.system()``,
    ``platform.machine()``, ``platform.mac_ver()[0]``, ``sys.platform``)."""
    system = platform.system() if system is None else system
    machine = (platform.machine() if machine is None else machine).lower()
    sys_platform = sys.platform if sys_platform is None else sys_platform
    intel = machine in ("x86_64", "amd64")
    arm = machine in ("arm64", "aarch64")
    if system == "Windows" or sys_platform in ("win32", "cygwin", "msys") or system.startswith(("CYGWIN", "MSYS", "MINGW")):
        return ("Windows: tensorflow-text, which the course's TF Hub preprocessor needs, has had no Windows build "
                "since 2.10 (pip stops with \"No matching distribution found for tensorflow-text\"). Run the course "
                "in WSL2 (Ubuntu; then `make lab` there) or in Google Colab.")
    if system == "Linux":
        # aarch64: TensorFlow 2.21 and tensorflow-text 2.21.1 publish manylinux_2_27_aarch64 wheels.
        if intel or arm:
            return None
        return f"Linux on {machine or 'an unknown processor'}: TensorFlow publishes Linux wheels for x86_64 and aarch64 only. Use {COLAB}."
    if system == "Darwin":
        if intel:
            return ("macOS on Intel (x86_64), or an x86_64 Python under Rosetta: TensorFlow's last Intel-Mac wheel is 2.16 "
                    "(the course needs 2.21). On an Apple-silicon Mac install an arm64 Python (python.org or Homebrew) and run "
                    f"`make lab` again; on an Intel Mac, use {COLAB}.")
        if arm:
            version = platform.mac_ver()[0] if mac_version is None else mac_version
            parts = tuple(int(p) for p in version.split(".")[:2] if p.isdigit())
            if parts and parts < MACOS_MINIMUM:
                return (f"macOS {version}: TensorFlow 2.21's Mac wheels need macOS 12 or newer. Update macOS, or "
                        f"use {COLAB}.")
            return None
        return f"macOS on {machine or 'an unknown processor'}: no TensorFlow wheel. Use {COLAB}."
    return (f"{system or sys_platform} on {machine or 'an unknown processor'}: the course installs on "
            f"{', '.join(SUPPORTED_PLATFORMS)} only. Use {COLAB}.")


def python_problem(version_info=sys.version_info) -> str | None:
    """None for a Python that TensorFlow 2.21 has wheels for (3.10 to 3.13), else what to do."""
    low, high = PYTHON_RANGE
    if low <= tuple(version_info[:2]) <= high:
        return None
    version = ".".join(map(str, version_info[:2]))
    return (f"Python {version}: TensorFlow 2.21 publishes wheels for Python 3.10 to 3.13 only, so pip would find none. "
            "Install Python 3.11 (the tested one) and run `make lab PYTHON=python3.11`.")


def platform_name(system: str | None = None, machine: str | None = None) -> str:
    """``"Linux x86_64"``, ``"macOS arm64"``, ``"Windows amd64"``...: the names the README's table uses."""
    system = platform.system() if system is None else system
    machine = platform.machine() if machine is None else machine
    shown = "macOS" if system == "Darwin" else system
    return f"{shown} {machine.lower()}".strip()


def platform_check_main() -> int:
    """``python -I bertlab/env.py``: exit 1 with the reason on a computer the course cannot install on.

    Runs with the system Python before pip (the Makefile's first step), so it imports the
    standard library only: run as a file, this module does not import the package. ``-I`` keeps
    ``bertlab/`` itself off ``sys.path``, so none of its modules can shadow a standard one.
    """
    problem = platform_problem() or python_problem()
    if problem:
        print(f"bertlab cannot be installed on this computer ({platform_name()}).\n{problem}", file=sys.stderr)
        return 1
    return 0


# Lesson 07 runs on Keras 3 (KerasHub): its setup cell sets BERTLAB_KERAS=3 before `import bertlab`,
# and then bertlab selects no Keras 2 and imports none of its Keras 2 modules (KERAS2_MODULES).
KERAS3_SWITCH = "BERTLAB_KERAS"
# bertlab's modules built on tf-keras, transformers' TF classes or TF Hub layers (lessons 01-06).
KERAS2_MODULES = ("bertlab.encoder", "bertlab.finetuning", "bertlab.pretraining", "bertlab.spam", "bertlab.hub_export")
KERAS3_RESTART_HINT = (
    "Lessons 01-06 need Keras 2 and lesson 07 needs Keras 3, and one Python process can have only one of them "
    "selected. Restart the kernel (Kernel > Restart, or Runtime > Restart session on Colab) and run the "
    "lesson from its first cell."
)


def keras3_mode() -> bool:
    """Whether this process is a lesson-07 (Keras 3) process: ``BERTLAB_KERAS=3``."""
    return os.environ.get(KERAS3_SWITCH, "").strip() == "3"


class KernelMixError(BertlabError, RuntimeError):
    """Keras 2 code (lessons 01-06) and Keras 3 code (lesson 07) met in one Python process."""

    def _render_traceback_(self):  # Jupyter shows this line instead of a traceback
        return [f"{type(self).__name__}: {self}"]


def require_keras2(what: str) -> None:
    """Raise :class:`KernelMixError` in a Keras 3 (lesson 07) process, where ``what`` cannot work."""
    if keras3_mode():
        raise KernelMixError(f"{what} needs Keras 2 (tf-keras), but this kernel runs Keras 3 for lesson 07 "
                             f"({KERAS3_SWITCH}=3). {KERAS3_RESTART_HINT}")


class _Keras2ModuleBlocker:
    """On ``sys.meta_path`` in a Keras 3 process: importing one of :data:`KERAS2_MODULES` raises
    :class:`KernelMixError` at once, instead of a traceback from deep inside TF Hub or transformers."""

    def find_spec(self, name, path=None, target=None):
        if name in KERAS2_MODULES:
            require_keras2(f"`import {name}` (lessons 01-06)")
        return None


def select_keras3() -> None:
    """A lesson-07 process: Keras 3 stays TensorFlow's Keras; bertlab's Keras 2 modules refuse to import."""
    for name, value in QUIET_VARIABLES.items():
        os.environ.setdefault(name, value)
    if "tensorflow" in sys.modules and os.environ.get("TF_USE_LEGACY_KERAS", "") == "1":
        raise KernelMixError(f"{KERAS3_SWITCH}=3 asks for Keras 3, but TensorFlow was already imported with "
                             f"TF_USE_LEGACY_KERAS=1 (Keras 2). {KERAS3_RESTART_HINT}")
    # Inherited from a Keras 2 parent process (a Jupyter server or pytest that ran `import bertlab`):
    # they only act when TensorFlow is imported, which has not happened yet in this process.
    for name in KERAS2_VARIABLES:
        os.environ.pop(name, None)
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    if not any(isinstance(finder, _Keras2ModuleBlocker) for finder in sys.meta_path):
        sys.meta_path.insert(0, _Keras2ModuleBlocker())


class Keras3LoadedError(BertlabError, RuntimeError):
    """Keras 3 is already active in this process, so Keras 2 can no longer be selected."""


def _keras3_module_loaded() -> str | None:
    version = str(getattr(sys.modules.get("keras"), "__version__", ""))
    major = version.split(".")[0]
    return version if major.isdigit() and int(major) >= 3 else None


def select_keras2() -> None:
    """Make ``tf.keras`` mean tf-keras (Keras 2), or raise if that is no longer possible."""
    for name, value in QUIET_VARIABLES.items():
        os.environ.setdefault(name, value)
    # keras-bert reuses initializer objects; tf-keras warns about it in every model-building cell.
    warnings.filterwarnings("ignore", message=r"The initializer \w+ is unseeded")
    keras3 = _keras3_module_loaded()
    if keras3:
        raise Keras3LoadedError(
            f"Keras {keras3} was imported before bertlab, so TensorFlow already uses Keras 3, "
            f"which TF Hub layers, transformers' TF classes and keras-bert do not support. {RESTART_HINT}"
        )
    os.environ.update(KERAS2_VARIABLES)


class Keras3ObjectError(BertlabError, TypeError):
    """A Keras 3 object (from ``import keras``) was handed to code built on tf-keras (Keras 2)."""


def keras_of(obj) -> str | None:
    """Which Keras ``obj`` belongs to, from the modules of its class and base classes: ``"keras 3"``
    (``keras``, ``keras.src...``), ``"tf_keras"`` (Keras 2, what ``tf.keras`` is after ``import bertlab``),
    or None (not a Keras object: a string, a number, a transformers or TF Hub object)."""
    modules = [cls.__module__ or "" for cls in type(obj).__mro__]
    if any(module == "keras" or module.startswith("keras.") for module in modules):
        return "keras 3"
    if any(module == "tf_keras" or module.startswith("tf_keras.") for module in modules):
        return "tf_keras"
    return None


def require_tf_keras(obj, what: str) -> None:
    """Raise :class:`Keras3ObjectError` when ``obj`` (described as ``what``: "the optimizer", "callbacks[0]")
    is a Keras 3 object; the course's models are tf-keras models, which fail deep inside Keras with it."""
    if keras_of(obj) != "keras 3":
        return
    cls = type(obj)
    public = cls.__module__.replace("keras.src.", "keras.").split(".")[:2]
    example = {"optimizers": "tf.keras.optimizers.Adam(...)", "layers": "tf.keras.layers.Dense(...)",
               "callbacks": "tf.keras.callbacks.EarlyStopping(...)", "models": "tf.keras.Model(...)"}.get(
        public[1] if len(public) > 1 else "", f"tf.keras.{cls.__name__}(...)")
    raise Keras3ObjectError(
        f"{what} is a Keras 3 object ({cls.__module__}.{cls.__qualname__}), made after `import keras`. The course's "
        f"models are tf-keras (Keras 2) models, which cannot use Keras 3 objects. Make it with tf.keras (for example "
        f"{example}) or tf_keras instead: after `import bertlab`, tf.keras is Keras 2, but `import keras` still "
        "gives Keras 3."
    )


def check_keras2() -> str:
    """Import TensorFlow and confirm that ``tf.keras`` is tf-keras; return its version."""
    import tensorflow as tf
    import tf_keras

    # Compare classes, not module names: keras-bert re-imports tf.keras under another name.
    if tf.keras.Model is not tf_keras.Model:
        raise Keras3LoadedError(f"tf.keras resolves to {tf.keras.Model.__module__!r}, not tf_keras (Keras 2). {RESTART_HINT}")
    return tf_keras.__version__


def set_seed(seed: int = 42) -> None:
    """Seed Python, NumPy and TensorFlow so that a run can be repeated."""
    import numpy as np
    import tensorflow as tf

    random.seed(seed)
    np.random.seed(seed)
    tf.keras.utils.set_random_seed(seed)


def gpus() -> list:
    import tensorflow as tf

    return tf.config.list_physical_devices("GPU")


def tpu_resolver():
    """A TPU cluster resolver when a TPU is attached (Colab TPU runtime), else None."""
    import tensorflow as tf

    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
        resolver.cluster_spec()  # raises when there is no TPU
    except (ValueError, RuntimeError, tf.errors.NotFoundError):
        return None
    return resolver


def cluster_workers() -> int:
    """How many workers ``TF_CONFIG`` names (chief included); 0 without a ``TF_CONFIG``.

    Raises ValueError when ``TF_CONFIG`` is not the JSON that ``tf.distribute`` reads
    (``{"cluster": {"worker": ["host:port", ...]}, "task": {"type": "worker", "index": i}}``).
    """
    import json

    raw = os.environ.get("TF_CONFIG", "").strip()
    if not raw:
        return 0
    try:
        cluster = json.loads(raw)["cluster"]
        return sum(len(cluster.get(kind, [])) for kind in ("chief", "worker"))
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise ValueError(
            f"TF_CONFIG is set but is not a tf.distribute cluster description ({error!r}); expected JSON like "
            '{"cluster": {"worker": ["10.0.0.1:12345", "10.0.0.2:12345"]}, "task": {"type": "worker", "index": 0}}.'
        ) from None


def distribution_strategy(devices: list[str] | None = None):
    """The ``tf.distribute`` strategy for this machine; build and compile models inside ``strategy.scope()``.

    * ``devices`` given: MirroredStrategy over them (the default strategy for one device);
    * ``TF_CONFIG`` naming several workers: MultiWorkerMirroredStrategy (every machine runs the
      same script with its own ``task.index``; the global batch is split across all workers);
    * a TPU attached (Colab TPU runtime): TPUStrategy;
    * several GPUs: MirroredStrategy over them;
    * otherwise the default (single-device) strategy.
    """
    import tensorflow as tf

    if devices is not None:
        return tf.distribute.MirroredStrategy(devices=devices) if len(devices) > 1 else tf.distribute.get_strategy()
    if cluster_workers() > 1:
        return tf.distribute.MultiWorkerMirroredStrategy()
    resolver = tpu_resolver()
    if resolver is not None:
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    if len(gpus()) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def gpu_benefits_from_mixed_precision() -> bool:
    """True on GPUs with tensor cores for float16 (compute capability 7.0: V100, T4, A100, H100...)."""
    import tensorflow as tf

    for gpu in gpus():
        details = tf.config.experimental.get_device_details(gpu)
        if details.get("compute_capability", (0, 0)) >= (7, 0):
            return True
    return False


def enable_mixed_precision(force: bool | None = None) -> str:
    """Switch Keras to ``mixed_float16`` where the GPU benefits; return the policy name in use.

    On a CPU it stays ``float32``: ``mixed_bfloat16`` trained and inferred slower on the
    course's AVX2 CPU, which has no bfloat16 instructions (benchmarks/cpu_speed.py; why, in
    benchmarks/README.md), and was not measured on a CPU that has them (AVX512-BF16, AMX).
    """
    import tensorflow as tf

    wanted = gpu_benefits_from_mixed_precision() if force is None else force
    policy = "mixed_float16" if wanted else "float32"
    tf.keras.mixed_precision.set_global_policy(policy)
    return policy


def device_summary() -> str:
    """One line a learner can read: which devices TensorFlow sees."""
    import tensorflow as tf

    gpu_list = gpus()
    if gpu_list:
        names = []
        for gpu in gpu_list:
            details = tf.config.experimental.get_device_details(gpu)
            names.append(details.get("device_name", gpu.name))
        return f"{len(gpu_list)} GPU(s): " + ", ".join(names)
    if tpu_resolver() is not None:
        return "TPU attached"
    return f"CPU only ({os.cpu_count()} cores)"


def in_colab() -> bool:
    return "google.colab" in sys.modules or os.environ.get("COLAB_RELEASE_TAG") is not None


TRUE_VALUES = frozenset({"1", "true", "yes"})


def env_flag(name: str) -> bool:
    """Whether the environment variable ``name`` is switched on: ``1``, ``true`` or ``yes`` (any case, spaces ignored)."""
    return os.environ.get(name, "").strip().lower() in TRUE_VALUES


def quick_mode() -> bool:
    """``BERTLAB_QUICK=1`` shortens training in lessons (CI uses it); the checked outputs hold in both modes."""
    return env_flag("BERTLAB_QUICK")


class _NoGradientNote(logging.Filter):
    """Keras' "Gradients do not exist for variables [...]" warning, once per set of variables, in words.

    Keras logs it every time it traces a training step (with dynamic padding, for several batch
    shapes), and a learner's correct classifier that pools the token vectors leaves BERT's pooler
    unused: four identical warnings that look like an error. The first one for a set of variables is
    kept, reworded for the pooler; repeats are dropped."""

    PREFIX = "Gradients do not exist for variables"

    def __init__(self):
        super().__init__()
        self.seen: set = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith(self.PREFIX):
            return True
        names = record.args[0] if isinstance(record.args, tuple) and record.args else record.args
        names = tuple(names) if isinstance(names, (list, tuple)) else (str(names),)
        if names in self.seen:
            return False
        self.seen.add(names)
        if names and all("pooler" in name for name in names):
            record.msg = ("BERT's pooler (the dense layer over [CLS]) gets no gradient: the model's pooling does not "
                          "use it, so it stays as it is. To silence this, freeze it before compiling: "
                          "encoder.bert.pooler.trainable = False")
            record.args = ()
        return True


def quiet_repeated_keras_warnings() -> None:
    """Install :class:`_NoGradientNote` on TensorFlow's logger (once), and :func:`_course_warning_format`."""
    logger = logging.getLogger("tensorflow")
    if not any(isinstance(f, _NoGradientNote) for f in logger.filters):
        logger.addFilter(_NoGradientNote())
    if not getattr(warnings.formatwarning, "_bertlab", False):
        warnings.formatwarning = _course_warning_format(warnings.formatwarning)


def _course_warning_format(original):
    """The course's own warnings (``TruncationWarning``, ...) as one line, ``TruncationWarning: 7 of ...``.

    Python prefixes a warning with the file and line that raised it and repeats that source line:
    in a notebook, a temporary ``/tmp/ipykernel_.../123.py:3:`` or the path of the package on the
    machine that ran it, which tell a learner nothing. Other libraries' warnings keep Python's format."""
    def formatwarning(message, category, filename, lineno, line=None):
        if getattr(category, "__module__", "").startswith("bertlab"):
            return f"{category.__name__}: {message}\n"
        return original(message, category, filename, lineno, line)

    formatwarning._bertlab = True
    return formatwarning


@contextlib.contextmanager
def quiet_native_stderr():
    """Hide what native code writes straight to the process's standard error while the block runs.

    TensorFlow's shared libraries print start-up lines ("All log messages before
    absl::InitializeLog() is called...", "Could not find cuda drivers...") on file descriptor 2
    as they load, before ``TF_CPP_MIN_LOG_LEVEL`` applies, and in a notebook they land in the
    first cell's output. Only the descriptor is redirected: a Python exception raised in the
    block still propagates, after it is restored. ``BERTLAB_VERBOSE=1`` shows everything.
    """
    if env_flag("BERTLAB_VERBOSE"):
        yield
        return
    try:
        saved = os.dup(2)
    except OSError:  # no descriptor 2 (some embedded interpreters): nothing to hide
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


if __name__ == "__main__":
    sys.exit(platform_check_main())
