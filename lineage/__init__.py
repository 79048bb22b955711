"""audio-lineage: the shared machinery of the lineage suite.

`lineage` holds what every model uses - audio I/O, configs, data, the Trainer, display helpers, the
timeline and the listening page - and knows no model by name: zoo entries are found through the
entry-point group ``lineage.models`` (see :mod:`lineage.registry`).
"""

__version__ = "0.1.0"

import torch

# Flush denormal floats (|x| < 1e-38) to zero. As a model trains, some of its softmax and gate
# gradients underflow into that range, and x86 CPUs compute on denormals many times slower: measured
# here, a tiny WaveNet's training steps slowed from 5 to 2.9 per second over 1,500 steps without this,
# and stayed at 5 with it. Set at import, before torch starts its worker threads, which inherit it.
torch.set_flush_denormal(True)

import warnings

# Libraries we import (accelerate) load tqdm.auto, which warns inside Jupyter when ipywidgets is
# absent; our own progress bars are plain text and need no widgets.
warnings.filterwarnings("ignore", message="IProgress not found")
