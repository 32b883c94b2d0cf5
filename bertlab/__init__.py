"""bertlab: the helper package behind the BERT-with-TensorFlow course.

Import it before anything else touches Keras: it selects Keras 2 (tf-keras), which
TF Hub layers, transformers' TF classes and keras-bert need (lessons 01-06). With
``BERTLAB_KERAS=3`` set first (lesson 07's setup cell) it selects nothing: Keras 3 and KerasHub. Python runs this file before
any ``bertlab.<module>``, so the modules themselves need no ``import bertlab`` to get Keras 2
before they import TensorFlow.
"""
from bertlab import env as _env

if _env.keras3_mode():  # lesson 07 (BERTLAB_KERAS=3): Keras 3 and KerasHub, no Keras 2 anywhere
    _env.select_keras3()
    try:  # KerasHub imports TensorFlow (tensorflow-text) on every backend: its start-up lines are hidden here
        with _env.quiet_native_stderr():
            import tensorflow as _tf  # noqa: F401
    except ImportError:  # pragma: no cover - exercised only on broken installs
        _tf = None
else:
    _env.select_keras2()

    try:  # TensorFlow missing is reported by `bertlab doctor`, not here.
        with _env.quiet_native_stderr():  # TensorFlow's native start-up lines (absl, CUDA probing)
            import tensorflow as _tf  # noqa: F401
    except ImportError:  # pragma: no cover - exercised only on broken installs
        _tf = None
    else:
        _env.check_keras2()
        _env.quiet_repeated_keras_warnings()  # Keras' no-gradient warning: once, in words

from bertlab.env import device_summary, distribution_strategy, quick_mode, set_seed  # noqa: E402

__version__ = "0.1.0"

__all__ = ["device_summary", "distribution_strategy", "quick_mode", "set_seed", "__version__"]

from bertlab.models import hub_handles, load_tf_model, load_tokenizer  # noqa: E402

__all__ += ["hub_handles", "load_tf_model", "load_tokenizer"]
