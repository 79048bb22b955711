"""SaShiMi (2022) as a zoo entry, in JAX/Flax: ``ssm.py`` holds the state-space layers (S4, S4D), ``model.py``
the multi-scale SaShiMi network and the zoo protocol, ``loop.py`` its own training loop; ``README.md`` is
the model card."""

import os

# XLA's CPU runtime sizes its thread pool once, when JAX starts: where the process was asked for one
# thread (`make test` runs two processes of one thread each), it gets one
if os.environ.get("OMP_NUM_THREADS") == "1" and "XLA_FLAGS" not in os.environ:
    os.environ["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"

from zoo.sashimi.loop import train  # noqa: E402 - after the thread setting
from zoo.sashimi.model import (Config, SaShiMi, build, facts, generate, load_weights, loss, nll,  # noqa: E402
                               sample, steps)

SYSTEM = "SaShiMi"  # the name of this system in lineage.timeline

__all__ = ["SYSTEM", "Config", "SaShiMi", "build", "steps", "sample", "nll", "facts", "loss", "generate",
           "train", "load_weights"]
