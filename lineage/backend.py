"""One loaded model, whatever its kind, that generates one request at a time: what ``lineage serve``
runs. A zoo run (an entry's shipped weights or a run folder) takes labels (``cond``); an open-weights
model (:mod:`lineage.open_weights`) takes a prompt, steps and guidance. Both return
``([channels, samples], rate)`` and call ``tick()`` at every step, which is where a server cancels."""

import numpy as np


class Refused(ValueError):
    """A request this server will not run: answered with ``status`` and the message, in one line."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


class Backend:
    """A loaded model the server calls: a zoo run (shipped weights or a run folder) or an open-weights
    wrapper. ``generate`` returns ``([channels, samples], rate)`` and calls ``tick()`` once per step."""

    def __init__(self, name: str, source=None, device: str | None = None):
        from lineage import open_weights

        if name in open_weights.names():
            self._open(open_weights.load(name, source, device))
        else:
            from lineage.run import Run

            self.kind, self.run = "zoo", Run.load(source or name)
            self.name, self.model = self.run.entry.name, self.run.model(device=device)
            self.rate, self.longest = self.run.sample_rate, 30.0
            self.cond_keys = self.run.entry.cond_keys(self.run.config)
            self.takes = ["cond", "seconds", "seed"]

    def _open(self, wrapper) -> None:
        self.name, self.kind, self.model = wrapper.name, "open-weights", wrapper
        self.rate, self.longest = wrapper.rate, wrapper.longest
        self.takes = ["prompt", "seconds", "seed", "steps", "guidance", "negative_prompt"]

    @classmethod
    def wrapping(cls, wrapper) -> "Backend":
        """A backend over an open-weights wrapper already in memory (a tiny one in the tests)."""
        backend = cls.__new__(cls)
        backend._open(wrapper)
        return backend

    def describe(self) -> dict:
        return {"name": self.name, "kind": self.kind, "sample_rate": self.rate, "longest_seconds": self.longest,
                "takes": self.takes + ["bpm", "bars", "beats_per_bar"]}

    def generate(self, req: dict, tick) -> tuple[np.ndarray, int]:
        if self.kind == "open-weights":
            return self.model.generate(req["prompt"], req["seconds"], req["seed"], req.get("steps"),
                                       req.get("guidance"), req.get("negative_prompt"), progress=False,
                                       on_step=tick)
        import torch

        given = req.get("cond") or {}
        cond = None
        if self.cond_keys:
            try:
                cond = conditioning(self.run.labels(), 1, req["seed"], given)
            except ValueError as err:
                raise Refused(f"cond.{err}") from None
        elif given:
            raise Refused(f"cond: {self.name} is unconditional and takes no labels")
        tick()
        with torch.no_grad():
            audio = self.run.entry.sample(self.model, 1, req["seconds"], seed=req["seed"], cond=cond)
        return np.asarray(audio)[0], self.rate


def conditioning(labels, n: int, seed: int, given: dict) -> dict:
    """Labels for ``n`` clips, drawn from ``labels`` (a training split, or the labels shipped weights keep)
    with ``seed``, then ``given`` (``{label: number or vocabulary word}``) fixed for all ``n``."""
    import torch

    cond = labels.label_batch(n, seed=seed)
    for key, value in given.items():
        if key not in cond or key == "class":
            raise ValueError(f"{key}: unknown label; this data set has {[k for k in cond if k != 'class']}")
        vocab = labels.vocab.get(key)
        if vocab and value not in vocab:
            raise ValueError(f"{key}: must be one of {vocab}, got {value!r}")
        if not vocab and not str(value).lstrip("-").isdigit():
            raise ValueError(f"{key}: must be a whole number, got {value!r}")
        cond[key] = torch.full((n,), vocab.index(value) if vocab else int(value))
        if key == labels.class_label:
            cond["class"] = cond[key]  # models condition on the set's class label under this name
    return cond
