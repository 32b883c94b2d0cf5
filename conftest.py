"""pytest hooks for the whole repository.

nbval (``pytest --nbval-lax notebooks/solutions``): cells marked ``# NBVAL_CHECK_OUTPUT`` must
reproduce their stored outputs. TensorFlow writes machine-dependent log lines to stderr
(CUDA probing, oneDNN, absl), so stderr is left out of those comparisons. This hides no
error: a cell that raises produces an ``error`` output, which nbval fails on in every mode,
and stdout and rich outputs are still compared.
"""


def pytest_collectstart(collector):
    skip = getattr(collector, "skip_compare", None)
    if skip is not None and "stderr" not in skip:
        collector.skip_compare = tuple(skip) + ("stderr",)
