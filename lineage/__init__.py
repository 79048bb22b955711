"""audio-lineage: the shared machinery of the lineage suite.

`lineage` holds what every model uses - audio I/O, configs, data, the Trainer, display helpers, the
timeline and the listening page - and knows no model by name: zoo entries are found through the
entry-point group ``lineage.models`` (see :mod:`lineage.registry`).
"""

__version__ = "0.1.0"
