"""audio-lineage: the shared machinery of the lineage suite.

`lineage` holds what every model uses - audio I/O, configs, data, the Trainer, display helpers, the
timeline and the listening page - and knows no model by name: zoo entries are found through the
entry-point group ``lineage.models`` (see :mod:`lineage.registry`).
"""

__version__ = "0.1.0"

import importlib.abc
import importlib.util
import sys


def _flush_denormals(torch) -> None:
    # Flush denormal floats (|x| < 1e-38) to zero. As a model trains, some of its softmax and gate
    # gradients underflow into that range, and x86 CPUs compute on denormals many times slower: measured
    # here, a tiny WaveNet's training steps slowed from 5 to 2.9 per second over 1,500 steps without this,
    # and stayed at 5 with it. Set as torch is imported, before it starts its worker threads, which
    # inherit it.
    torch.set_flush_denormal(True)


class _WhenTorchLoads(importlib.abc.MetaPathFinder):
    """Run :func:`_flush_denormals` the moment torch is imported, and not before: importing torch takes
    seconds, and ``lineage --help`` or ``lineage list`` need none of it."""

    def find_spec(self, name, path, target=None):
        if name != "torch":
            return None
        sys.meta_path.remove(self)  # once; the search below must not find this finder again
        spec = importlib.util.find_spec("torch")
        run_module = spec.loader.exec_module

        def exec_module(module):
            run_module(module)
            _flush_denormals(module)

        spec.loader.exec_module = exec_module
        return spec


if "torch" in sys.modules:
    _flush_denormals(sys.modules["torch"])
else:
    sys.meta_path.insert(0, _WhenTorchLoads())

import warnings

# Libraries we import (accelerate) load tqdm.auto, which warns inside Jupyter when ipywidgets is
# absent; our own progress bars are plain text and need no widgets.
warnings.filterwarnings("ignore", message="IProgress not found")
