"""One small Trainer for every torch entry of the zoo.

It knows nothing about any model: it asks the entry (:class:`lineage.registry.Entry`) to ``build`` one,
for the ``steps`` of one training step and to ``sample``; the run folder is read and written by
:class:`lineage.run.Run`. What it does:

* **seeding** - torch from ``train.seed``; batch *s* is drawn from a generator seeded by
  ``(train.seed, s, process)``, so the data order needs no state to resume exactly;
* **devices** - CPU, CUDA or MPS through Hugging Face Accelerate (``accelerate launch`` runs the same
  loop on several GPUs or nodes);
* **parts** - each :class:`~lineage.protocol.Step` (the whole model, or a GAN's critic then generator)
  has its own AdamW and is updated ``repeats`` times per step, each time on a fresh batch;
* **progress** - one display (:mod:`lineage.progress`) with the loss(es), the entry's logs and steps/s;
  ``log.jsonl``;
* **checkpoints** every ``train.checkpoint_every`` steps, atomic, safetensors + JSON (:mod:`lineage.run`);
* **exact resume** - weights, optimizers, EMA and RNG states come back, the log is cut back to the
  checkpoint, and the run continues as if never stopped (a test checks the losses match);
* **a NaN/inf guard** - a non-finite loss or gradient stops training with one clear line; the last good
  checkpoint stays the latest, and ``--resume`` may lower ``train.lr`` or set ``train.grad_clip``
  (:data:`lineage.run.SAFE_ON_RESUME`); a **divergence warning** when a loss grows to
  ``DIVERGED_FACTOR`` times its best (smoothed) value;
* **EMA** of the weights (``train.ema`` > 0), used for sampling; **samples** in ``samples/step_N/``.
"""

from __future__ import annotations

import copy
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from lineage import config as cfgmod
from lineage import progress
from lineage import registry
from lineage.run import Run, default_device


DIVERGED_FACTOR = 100.0  # a smoothed |loss| this many times its best (or 1, if the best is smaller) is diverging


class TrainingDiverged(RuntimeError):
    """The loss or the gradient stopped being finite."""


class EMA:
    """Exponential moving average of the weights: ``theta_ema <- beta theta_ema + (1 - beta) theta``."""

    def __init__(self, model: torch.nn.Module, decay: float):
        self.decay = decay
        self.shadow = {k: v.detach().clone() for k, v in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        for k, v in model.state_dict().items():
            if v.dtype.is_floating_point:
                self.shadow[k].mul_(self.decay).add_(v.detach(), alpha=1 - self.decay)
            else:
                self.shadow[k].copy_(v)


class DivergenceWatch:
    """Each loss smoothed (``s <- 0.9 s + 0.1 |loss|``) and its best value: a loss whose smoothed size
    passes ``DIVERGED_FACTOR`` times its best (or 1, if the best is smaller) is diverging. The NaN guard
    catches values that stop being finite; a loss of 1e7 is finite."""

    def __init__(self):
        self.smoothed, self.best, self.reported = {}, {}, set()

    def update(self, logs: dict, who: str, latest) -> list[str]:
        """A warning for each loss of ``logs`` (one step's) that has just started to diverge, once per
        loss; ``latest()`` gives the checkpoint to go back to."""
        news = []
        for key, value in logs.items():
            if not key.startswith("loss"):
                continue
            s = self.smoothed[key] = 0.9 * self.smoothed.get(key, abs(value)) + 0.1 * abs(value)
            best = self.best[key] = min(self.best.get(key, s), s)
            if s > DIVERGED_FACTOR * max(best, 1.0) and key not in self.reported:
                self.reported.add(key)
                ckpt = latest()
                news.append(f"{who}: {key} is diverging - {value:.3g} at step {logs['step']}, over "
                            f"{DIVERGED_FACTOR:g} times its best ({best:.3g}); resume from a checkpoint before it "
                            f"({ckpt.name if ckpt else 'none yet'}) with --resume and a lower train.lr or a "
                            f"train.grad_clip")
        return news


class Trainer:
    def __init__(self, model_name: str, cfg: cfgmod.RunConfig, out: str | Path, resume: bool = False,
                 progress: bool = True):
        from accelerate import Accelerator

        self.entry, self.cfg, self.progress = registry.load(model_name), cfg, progress
        tc = cfg.train
        if tc.threads:
            torch.set_num_threads(tc.threads)
        check_device(tc.device)
        # cpu=True where the CPU is all there is, or `accelerate launch`'s processes train alone, not as a group
        self.accelerator = Accelerator(cpu=tc.device == "cpu" or (tc.device == "auto" and default_device() == "cpu"))
        self.device = self.accelerator.device
        main = self.accelerator.is_main_process
        self.run = Run.start(out, model_name, cfg, resume) if main else Run(out)
        self.accelerator.wait_for_everyone()  # the others read the run folder once the first has written it
        self.out = self.run.path
        self.trainset, self.testset = self.run.data()
        torch.manual_seed(tc.seed)
        model = self.entry.build(cfg)
        self.parts = self.entry.steps(model)  # one optimizer per part of the step
        optimizers = make_optimizers(self.parts, tc)
        # moved, not wrapped: a loss reaches into its model (a schedule, a mel front end), which a
        # DistributedDataParallel wrapper hides; processes stay in step by one seed and averaged gradients
        self.model = model.to(self.device)
        opts = self.accelerator.prepare(*optimizers.values())
        self.optimizers = dict(zip(optimizers, opts if len(optimizers) > 1 else [opts]))
        self.ema = EMA(self.model, tc.ema) if tc.ema > 0 else None
        self.step = 0
        self.watch = DivergenceWatch()
        if resume and self.run.checkpoints:  # (a run that never wrote one was started afresh by Run.start)
            self._load_checkpoint()

    def fit(self) -> dict:
        tc, acc = self.cfg.train, self.accelerator
        self.model.train()
        bar = None
        if self.progress and acc.is_main_process:
            bar = progress.bar(total=tc.steps, initial=self.step, desc=f"train {self.entry.name}", unit="step")
        last, t0 = {}, time.perf_counter()
        while self.step < tc.steps:
            # every batch of step s comes from one generator seeded by s: resuming needs no data state
            rng = np.random.default_rng([tc.seed, self.step, acc.process_index])
            last = {"step": self.step + 1}
            for part in self.parts:
                for _ in range(part.repeats):
                    batch = self.trainset.batch(rng, tc.batch_size, self.cfg.data.segment, self.cfg.data.crop)
                    loss, logs = self._update(part, {k: v.to(self.device) for k, v in batch.items()})
                    last.update({"loss" if part.name == "model" else f"loss_{part.name}": loss, **logs})
            if self.ema is not None:
                self.ema.update(acc.unwrap_model(self.model))
            self.step += 1
            if bar is not None:
                bar.update(1)
                bar.set_postfix({k: f"{v:.4g}" for k, v in last.items() if k != "step"}, refresh=False)
            if acc.is_main_process and (self.step % tc.log_every == 0 or self.step == tc.steps):
                self.run.append_log({**last, "time": round(time.perf_counter() - t0, 3)})
            for message in self.watch.update(last, f"train {self.entry.name}", lambda: self.run.latest):
                warnings.warn(message, stacklevel=2)
            if self.step % tc.checkpoint_every == 0 or self.step == tc.steps:
                self.save_checkpoint()
            if tc.sample_every and self.step % tc.sample_every == 0 and self.step < tc.steps:
                self.write_samples()
        if bar is not None:
            bar.close()
        # the final samples, also when a kill while they were written left a finished run without them
        if acc.is_main_process and not self.run.has_samples(f"step_{self.step:07d}"):
            self.write_samples()
        return last

    def _update(self, part, batch: dict) -> tuple[float, dict]:
        """One optimizer step of ``part`` on ``batch``, guarded against non-finite values."""
        loss, logs = part.loss(self.model, batch)
        name = "loss" if part.name == "model" else f"{part.name} loss"
        if not torch.isfinite(loss):
            raise TrainingDiverged(self._diverged(name, loss.item()))
        optimizer = self.optimizers[part.name]
        optimizer.zero_grad(set_to_none=True)
        self.accelerator.backward(loss)
        if self.accelerator.num_processes > 1:  # data parallel: the mean gradient over every process's batch
            for p in part.params:
                if p.grad is not None:
                    p.grad = self.accelerator.reduce(p.grad, reduction="mean")
        if self.cfg.train.grad_clip > 0:
            grad_norm = self.accelerator.clip_grad_norm_(part.params, self.cfg.train.grad_clip)
            if not torch.isfinite(grad_norm):
                raise TrainingDiverged(self._diverged(f"{name}'s gradient norm", float(grad_norm)))
        optimizer.step()
        return loss.item(), logs

    def _diverged(self, what: str, value: float) -> str:
        latest = self.run.latest
        keep = f"the last good checkpoint is {latest.name}" if latest else "no checkpoint was written"
        return (f"training diverged: {what} became {value} at step {self.step + 1}; {keep} (resume with "
                f"--resume after lowering train.lr or setting train.grad_clip)")

    def sampling_model(self) -> torch.nn.Module:
        """The model to listen to: a copy with the EMA weights if EMA is on."""
        model = self.accelerator.unwrap_model(self.model)
        if self.ema is not None:
            model = copy.deepcopy(model)
            model.load_state_dict(self.ema.shadow)
        return model.eval()

    def write_samples(self) -> Path | None:
        if not self.accelerator.is_main_process:
            return None
        tc = self.cfg.train
        cond = self.trainset.label_batch(tc.sample_n, seed=tc.seed)
        with torch.no_grad():
            audio = self.entry.sample(self.sampling_model(), tc.sample_n, tc.sample_seconds, seed=tc.seed,
                                      cond={k: v.to(self.device) for k, v in cond.items()})
        self.model.train()
        captions = [self.trainset.caption(cond, i) for i in range(len(audio))]
        return self.run.write_samples(f"step_{self.step:07d}", audio, captions)

    def save_checkpoint(self) -> Path | None:
        acc = self.accelerator
        acc.wait_for_everyone()
        if not acc.is_main_process:
            return None
        rng = {"rng.torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            rng.update({f"rng.cuda.{i}": s for i, s in enumerate(torch.cuda.get_rng_state_all())})
        return self.run.write_checkpoint(
            self.step, acc.unwrap_model(self.model).state_dict(), self.ema.shadow if self.ema else None,
            {part: opt.state_dict() for part, opt in self.optimizers.items()}, rng, self.cfg.train.keep_checkpoints)

    def _load_checkpoint(self) -> None:
        ckpt = self.run.read_checkpoint(device=str(self.device))
        self.accelerator.unwrap_model(self.model).load_state_dict(ckpt["weights"])
        if self.ema is not None and ckpt["ema"] is not None:
            self.ema.shadow = ckpt["ema"]
        if set(ckpt["optimizers"]) != set(self.optimizers):
            raise ValueError(f"{ckpt['path']}: optimizer states for {sorted(ckpt['optimizers'])}, but this "
                             f"model trains {sorted(self.optimizers)}")
        for part, state in ckpt["optimizers"].items():
            self.optimizers[part].load_state_dict(state)
            for group in self.optimizers[part].param_groups:  # train.lr may have changed on resume
                group["lr"] = self.cfg.train.lr
        torch.set_rng_state(ckpt["rng"]["rng.torch"])
        cuda_states = [ckpt["rng"][k] for k in sorted(ckpt["rng"]) if k.startswith("rng.cuda.")]
        if cuda_states and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(cuda_states)
        self.step = ckpt["step"]
        self.run.truncate_log(self.step)  # forget whatever a killed run logged after its last checkpoint


def check_device(device: str) -> None:
    if device == "cuda" and not torch.cuda.is_available():
        raise cfgmod.ConfigError("train.device = 'cuda' but no CUDA device is available; use auto or cpu")
    if device == "mps" and not torch.backends.mps.is_available():
        raise cfgmod.ConfigError("train.device = 'mps' but MPS is not available; use auto or cpu")


def make_optimizers(parts, tc: cfgmod.TrainConfig) -> dict[str, torch.optim.Optimizer]:
    """AdamW for each part of a training step, with ``train.lr``, ``train.betas`` and ``train.weight_decay``."""
    if len(tc.betas) != 2 or not all(0 <= b < 1 for b in tc.betas):
        raise cfgmod.ConfigError(f"train.betas = {tc.betas} is not valid: expected two numbers in [0, 1), "
                                 f"e.g. [0.9, 0.999] (or [0.5, 0.9] for a GAN)")
    return {part.name: torch.optim.AdamW(part.params, lr=tc.lr, betas=tuple(tc.betas),
                                         weight_decay=tc.weight_decay) for part in parts}


def train(model_name: str, cfg: cfgmod.RunConfig, out: str | Path, resume: bool = False,
          progress: bool = True) -> dict:
    """Train ``cfg`` into the run folder ``out``: with the entry's own loop if it brings one
    (``train(run, cfg, progress)`` in the protocol, e.g. a JAX entry), else with :class:`Trainer`."""
    entry = registry.load(model_name)
    own_loop = entry.capability("train")
    if own_loop is not None:
        return own_loop(Run.start(out, model_name, cfg, resume), cfg, progress)
    return Trainer(model_name, cfg, out, resume=resume, progress=progress).fit()


def train_or_resume(model_name: str, cfg: cfgmod.RunConfig, run: str | Path, progress: bool = True) -> dict:
    """Make sure ``run`` holds ``cfg`` trained to the end: train it, resume it if it was killed, or do
    nothing if it is finished (a run folder with a different config is refused)."""
    run = Run(run)  # (a run killed before its first checkpoint is started afresh by Run.start)
    return train(model_name, cfg, run.path, resume=run.started, progress=progress)
