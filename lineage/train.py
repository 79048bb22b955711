"""One small Trainer for the whole zoo.

It knows nothing about any model: it calls the entry's ``build``, ``loss`` and ``sample``. What it does:

* **seeding** - torch from ``train.seed``; batch *s* is drawn from a generator seeded by
  ``(train.seed, s, process)``, so the data order needs no state to resume exactly;
* **devices** - CPU, CUDA or MPS through Hugging Face Accelerate (``accelerate launch`` runs the same
  loop on several GPUs or nodes);
* **parts** - a step updates the whole model once, or - for an entry with ``updates`` (a GAN) - each
  part (critic, generator) with its own optimizer, as many times as the entry asks, on fresh batches;
* **progress** - tqdm with the loss(es), the entry's own logs and steps/s; ``log.jsonl`` with one line
  per logged step;
* **checkpoints** every ``train.checkpoint_every`` steps, written atomically: a folder
  ``checkpoints/step_0000500/`` is filled under a temporary name and renamed when complete, weights in
  safetensors, structure in JSON - nothing is ever unpickled on load;
* **exact resume** - weights, optimizer, EMA and RNG states come back, the log is cut back to the
  checkpoint, and the run continues as if never stopped (a test checks the losses match);
* **a NaN/inf guard** - a non-finite loss or gradient stops training with one clear line; the last good
  checkpoint stays the latest;
* **EMA** of the weights (``train.ema`` > 0), used for sampling;
* **periodic samples** - WAVs in ``samples/step_0000500/``.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch
from accelerate import Accelerator
from safetensors.torch import load_file, save_file

from lineage import audio as A
from lineage import config as C
from lineage import data as D
from lineage import registry
from lineage.files import write_atomic


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


class Trainer:
    def __init__(self, model_name: str, cfg: C.RunConfig, out: str | Path, resume: bool = False,
                 progress: bool = True):
        self.entry = registry.load(model_name)
        self.cfg = cfg
        self.out = Path(out)
        self.progress = progress
        tc = cfg.train
        if tc.threads:
            torch.set_num_threads(tc.threads)
        if tc.device == "cuda" and not torch.cuda.is_available():
            raise C.ConfigError("train.device = 'cuda' but no CUDA device is available; use auto or cpu")
        if tc.device == "mps" and not torch.backends.mps.is_available():
            raise C.ConfigError("train.device = 'mps' but MPS is not available; use auto or cpu")
        self.accelerator = Accelerator(cpu=tc.device == "cpu")
        self.device = self.accelerator.device
        self._check_run_folder(model_name, resume)

        data = self.entry.prepare(cfg, D.load(cfg.data))
        self.trainset, self.testset = data.split(cfg.data.holdout, seed=cfg.data.seed)

        torch.manual_seed(tc.seed)
        model = self.entry.build(cfg)
        # one optimizer per part of the step: the whole model, or a GAN's critic and generator
        self.parts = {part: n for part, (_, n) in self.entry.updates(model).items()}
        optimizers = make_optimizers(self.entry, model, tc)
        self.model, *opts = self.accelerator.prepare(model, *optimizers.values())
        self.optimizers = dict(zip(optimizers, opts))
        # the EMA copy is made after `prepare`, so it lives on the training device
        self.ema = EMA(self.accelerator.unwrap_model(self.model), tc.ema) if tc.ema > 0 else None
        self.step = 0
        if resume:
            self._load_checkpoint()

    # -- the loop ---------------------------------------------------------------------------------
    def fit(self) -> dict:
        tc = self.cfg.train
        acc = self.accelerator
        model = self.model
        model.train()
        bar = None
        if self.progress and acc.is_main_process:
            from tqdm import tqdm
            # in a terminal the bar redraws in place; elsewhere (notebooks, logs) every redraw is a new
            # line of output, so it redraws only every 15 s there
            bar = tqdm(total=tc.steps, initial=self.step, desc=f"train {self.entry.name}", unit="step",
                       dynamic_ncols=True, mininterval=0.5 if sys.stderr.isatty() else 15)
        last = {}
        t0 = time.perf_counter()
        while self.step < tc.steps:
            # every batch of step s comes from one generator seeded by s: resuming needs no data state
            rng = np.random.default_rng([tc.seed, self.step, acc.process_index])
            last = {"step": self.step + 1}
            for part, n in self.parts.items():
                for _ in range(n):
                    batch = self.trainset.batch(rng, tc.batch_size, self.cfg.data.segment, self.cfg.data.crop)
                    batch = {k: v.to(self.device) for k, v in batch.items()}
                    loss, logs = self._update(part, batch)
                    last.update({"loss" if part == "model" else f"loss_{part}": loss, **logs})
            if self.ema is not None:
                self.ema.update(acc.unwrap_model(model))
            self.step += 1
            if bar is not None:
                bar.update(1)
                bar.set_postfix({k: f"{v:.4g}" for k, v in last.items() if k != "step"}, refresh=False)
            if self.step % tc.log_every == 0 or self.step == tc.steps:
                self._log({**last, "time": round(time.perf_counter() - t0, 3)})
            if self.step % tc.checkpoint_every == 0 or self.step == tc.steps:
                self.save_checkpoint()
            if (tc.sample_every and self.step % tc.sample_every == 0) or self.step == tc.steps:
                self.write_samples()
        if bar is not None:
            bar.close()
        return last

    def _update(self, part: str, batch: dict) -> tuple[float, dict]:
        """One optimizer step of ``part`` on ``batch``, guarded against non-finite values."""
        acc, tc = self.accelerator, self.cfg.train
        out = self.entry.loss(self.model, batch, part)
        loss, logs = out if isinstance(out, tuple) else (out, {})
        name = "loss" if part == "model" else f"{part} loss"
        if not torch.isfinite(loss):
            raise TrainingDiverged(self._diverged(name, loss.item()))
        optimizer = self.optimizers[part]
        optimizer.zero_grad(set_to_none=True)
        acc.backward(loss)
        if tc.grad_clip > 0:
            params = [p for group in optimizer.param_groups for p in group["params"]]
            grad_norm = acc.clip_grad_norm_(params, tc.grad_clip)
            if not torch.isfinite(grad_norm):
                raise TrainingDiverged(self._diverged(f"{name}'s gradient norm", float(grad_norm)))
        optimizer.step()
        return loss.item(), logs

    def _diverged(self, what: str, value: float) -> str:
        latest = latest_checkpoint(self.out)
        keep = f"the last good checkpoint is {latest.name}" if latest else "no checkpoint was written"
        return (f"training diverged: {what} became {value} at step {self.step + 1}; {keep} (resume with "
                f"--resume after lowering train.lr or setting train.grad_clip)")

    # -- samples ----------------------------------------------------------------------------------
    def sampling_model(self) -> torch.nn.Module:
        """The model to listen to: a copy with the EMA weights if EMA is on."""
        model = self.accelerator.unwrap_model(self.model)
        if self.ema is not None:
            model = copy.deepcopy(model)
            model.load_state_dict(self.ema.shadow)
        return model.eval()

    def write_samples(self) -> list[Path]:
        if not self.accelerator.is_main_process:
            return []
        tc = self.cfg.train
        cond = self.trainset.label_batch(tc.sample_n, seed=tc.seed)
        model = self.sampling_model()
        with torch.no_grad():
            audio = self.entry.sample(model, tc.sample_n, tc.sample_seconds, seed=tc.seed,
                                      cond={k: v.to(self.device) for k, v in cond.items()})
        self.model.train()
        folder = self.out / "samples" / f"step_{self.step:07d}"
        paths = [A.save(folder / f"{i:02d}.wav", a, self.cfg.data.sample_rate) for i, a in enumerate(audio)]
        captions = {p.name: self.trainset.describe(cond, i) for i, p in enumerate(paths)}
        (folder / "captions.json").write_text(json.dumps(captions, indent=2))
        return paths

    # -- checkpoints ------------------------------------------------------------------------------
    def save_checkpoint(self) -> Path | None:
        acc = self.accelerator
        acc.wait_for_everyone()
        if not acc.is_main_process:
            return None
        folder = self.out / "checkpoints"
        final = folder / f"step_{self.step:07d}"
        tmp = folder / f".tmp_step_{self.step:07d}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        model = acc.unwrap_model(self.model)
        save_file(_contiguous(model.state_dict()), tmp / "model.safetensors")
        if self.ema is not None:
            save_file(_contiguous(self.ema.shadow), tmp / "ema.safetensors")
        opt_tensors, opt_tree = flatten({part: opt.state_dict() for part, opt in self.optimizers.items()},
                                        "optimizers")
        rng = {"rng.torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            rng.update({f"rng.cuda.{i}": s for i, s in enumerate(torch.cuda.get_rng_state_all())})
        save_file(_contiguous({**opt_tensors, **rng}), tmp / "state.safetensors")
        (tmp / "state.json").write_text(json.dumps({"step": self.step, "optimizers": opt_tree}))
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)  # the checkpoint appears complete or not at all
        write_atomic(folder / "latest", final.name)
        for old in sorted(folder.glob("step_*"))[: -self.cfg.train.keep_checkpoints]:
            shutil.rmtree(old)
        return final

    def _load_checkpoint(self) -> None:
        ckpt = latest_checkpoint(self.out)
        if ckpt is None:
            raise FileNotFoundError(f"{self.out}: --resume given but no checkpoint found in "
                                    f"{self.out / 'checkpoints'}")
        model = self.accelerator.unwrap_model(self.model)
        model.load_state_dict(load_file(ckpt / "model.safetensors", device=str(self.device)))
        if self.ema is not None and (ckpt / "ema.safetensors").is_file():
            self.ema.shadow = load_file(ckpt / "ema.safetensors", device=str(self.device))
        tensors = load_file(ckpt / "state.safetensors")
        meta = json.loads((ckpt / "state.json").read_text())
        # checkpoints from before parts were named hold one optimizer, the whole model's
        states = unflatten(meta["optimizers"], tensors) if "optimizers" in meta else {
            "model": unflatten(meta["optimizer"], tensors)}
        if set(states) != set(self.optimizers):
            raise ValueError(f"{ckpt}: optimizer states for {sorted(states)}, but this model trains "
                             f"{sorted(self.optimizers)}")
        for part, state in states.items():
            self.optimizers[part].load_state_dict(state)
        torch.set_rng_state(tensors["rng.torch"])
        cuda_states = [tensors[k] for k in sorted(tensors) if k.startswith("rng.cuda.")]
        if cuda_states and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(cuda_states)
        self.step = meta["step"]
        # forget whatever a killed run logged after its last checkpoint
        log = self.out / "log.jsonl"
        if log.is_file():
            kept = [line for line in log.read_text().splitlines() if json.loads(line)["step"] <= self.step]
            write_atomic(log, "".join(line + "\n" for line in kept))

    # -- bookkeeping ------------------------------------------------------------------------------
    def _check_run_folder(self, model_name: str, resume: bool) -> None:
        saved = self.out / "config.json"
        record = {"model": model_name, "config": C.to_dict(self.cfg)}
        if saved.is_file():
            old = json.loads(saved.read_text())
            if not resume:
                raise FileExistsError(f"{self.out}: a run already lives here; pass --resume to continue "
                                      f"it or choose another --out")
            try:  # the saved config read with today's defaults: a field added since is not a difference
                old["config"] = C.to_dict(C.from_dict(type(self.cfg.model), old["config"]))
            except C.ConfigError:
                pass  # a key that no longer exists: reported as a difference below
            diffs = _differences(old, record)
            diffs = [d for d in diffs if d != "config.train.steps"]  # extending a run is allowed
            if diffs:
                raise ValueError(f"{self.out}: --resume with a different config ({', '.join(diffs)}); "
                                 f"use the same preset and --set values as the original run")
        elif resume:
            raise FileNotFoundError(f"{self.out}: --resume given but there is no run here")
        if self.accelerator.is_main_process:
            self.out.mkdir(parents=True, exist_ok=True)
            write_atomic(saved, json.dumps(record, indent=2))

    def _log(self, row: dict) -> None:
        if self.accelerator.is_main_process:
            with open(self.out / "log.jsonl", "a") as f:
                f.write(json.dumps(row) + "\n")


def losses_text(row: dict) -> str:
    """The losses of a log row in words: ``loss 0.0712``, or ``loss_critic -0.51, loss_generator 0.26``
    for a model trained in parts."""
    parts = [f"{k} {v:.4f}" for k, v in row.items() if k == "loss" or k.startswith("loss_")]
    return ", ".join(parts) or "loss -"


def make_optimizers(entry, model: torch.nn.Module, tc: C.TrainConfig) -> dict[str, torch.optim.Optimizer]:
    """AdamW for each part of the entry's training step, with ``train.lr``, ``train.betas`` and
    ``train.weight_decay``."""
    if len(tc.betas) != 2 or not all(0 <= b < 1 for b in tc.betas):
        raise C.ConfigError(f"train.betas = {tc.betas} is not valid: expected two numbers in [0, 1), "
                            f"e.g. [0.9, 0.999] (or [0.5, 0.9] for a GAN)")
    return {part: torch.optim.AdamW(module.parameters(), lr=tc.lr, betas=tuple(tc.betas),
                                    weight_decay=tc.weight_decay)
            for part, (module, _) in entry.updates(model).items()}


def train_or_resume(model_name: str, cfg: C.RunConfig, run: str | Path, progress: bool = True) -> dict:
    """Make sure ``run`` holds ``cfg`` trained to the end: train it, resume it if it was killed, or do
    nothing if it is finished (a run folder with a different config is refused by the Trainer)."""
    run = Path(run)
    if (run / "config.json").is_file() and latest_checkpoint(run) is None:
        shutil.rmtree(run)  # killed before its first checkpoint: nothing to keep
    trainer = Trainer(model_name, cfg, run, resume=latest_checkpoint(run) is not None, progress=progress)
    return trainer.fit()


# -- loading a finished run -------------------------------------------------------------------------

def latest_checkpoint(run: str | Path) -> Path | None:
    pointer = Path(run) / "checkpoints" / "latest"
    if not pointer.is_file():
        return None
    ckpt = pointer.parent / pointer.read_text().strip()
    return ckpt if ckpt.is_dir() else None


def load_run(run: str | Path, ema: bool = True, device: str = "cpu"):
    """``(entry, config, model)`` of a run folder, the model in eval mode with its latest weights
    (the EMA weights when the run kept them and ``ema`` is true)."""
    run = Path(run)
    if not (run / "config.json").is_file():
        raise FileNotFoundError(f"{run}: not a run folder (no config.json); train one with `lineage train`")
    record = json.loads((run / "config.json").read_text())
    entry = registry.load(record["model"])
    cfg = C.from_dict(entry.Config, record["config"])
    ckpt = latest_checkpoint(run)
    if ckpt is None:
        raise FileNotFoundError(f"{run}: no checkpoint yet in {run / 'checkpoints'}")
    model = entry.build(cfg)
    weights = ckpt / ("ema.safetensors" if ema and (ckpt / "ema.safetensors").is_file() else "model.safetensors")
    model.load_state_dict(load_file(weights, device=device))
    return entry, cfg, model.to(device).eval()


# -- state dicts <-> safetensors + JSON --------------------------------------------------------------

def flatten(tree, prefix: str) -> tuple[dict[str, torch.Tensor], object]:
    """Split a nested state (dicts, lists, tensors, numbers) into named tensors and a JSON skeleton
    in which each tensor is replaced by ``{"tensor": name}``."""
    tensors: dict[str, torch.Tensor] = {}

    def walk(node, path):
        if isinstance(node, torch.Tensor):
            tensors[path] = node.detach().cpu()
            return {"tensor": path}
        if isinstance(node, dict):
            return {"dict": [[walk_key(k), walk(v, f"{path}.{k}")] for k, v in node.items()]}
        if isinstance(node, (list, tuple)):
            return {"list": [walk(v, f"{path}.{i}") for i, v in enumerate(node)]}
        return {"value": node}

    def walk_key(k):
        return {"int": k} if isinstance(k, int) else {"str": k}

    return tensors, walk(tree, prefix)


def unflatten(skeleton, tensors: dict[str, torch.Tensor]):
    """Inverse of :func:`flatten`."""
    if "tensor" in skeleton:
        return tensors[skeleton["tensor"]]
    if "dict" in skeleton:
        return {(k.get("int") if "int" in k else k["str"]): unflatten(v, tensors) for k, v in skeleton["dict"]}
    if "list" in skeleton:
        return [unflatten(v, tensors) for v in skeleton["list"]]
    return skeleton["value"]


def _contiguous(tensors: dict) -> dict:
    return {k: v.detach().contiguous().cpu() for k, v in tensors.items()}


def _differences(a, b, path: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            out += _differences(a.get(k), b.get(k), f"{path}.{k}" if path else k)
        return out
    return [] if a == b else [path]
