"""A stand-in for Colab's ``google.colab`` module, for testing the course outside Colab.

Colab imports ``google.colab`` into every kernel before the first cell runs, and the
course's setup cell tests ``"google.colab" in sys.modules`` to decide whether to install
the course.  ``make test-colab`` imports this module first, so that the Colab branch of the
setup cell runs in a local virtual environment that mirrors Colab's image
(tools/colab/colab-image.txt).

Only the few entry points a notebook might touch are imitated; each one either does what
Colab would do where that makes sense offline, or raises a clear error saying it is a stand-in.
"""
from __future__ import annotations

import types

__version__ = "0.0.0+bertlab-stand-in"
STAND_IN = True


class StandInError(RuntimeError):
    """Raised by the parts of Colab that a local stand-in cannot imitate."""


def _unavailable(name: str):
    def call(*args, **kwargs):
        raise StandInError(
            f"google.colab.{name} is not available here: this is bertlab's local stand-in for "
            "Colab (tools/colab/google/colab), which only makes the Colab branch of the setup cell run."
        )

    call.__name__ = name.rsplit(".", 1)[-1]
    return call


def _noop(*args, **kwargs):
    return None


# `from google.colab import drive` etc. work: these namespaces imitate Colab's submodules.
drive = types.SimpleNamespace(mount=_unavailable("drive.mount"), flush_and_unmount=_noop)
files = types.SimpleNamespace(upload=_unavailable("files.upload"), download=_unavailable("files.download"))
output = types.SimpleNamespace(enable_custom_widget_manager=_noop, disable_custom_widget_manager=_noop, clear=_noop)
userdata = types.SimpleNamespace(get=_unavailable("userdata.get"))
