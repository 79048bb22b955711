"""SaShiMi's own training loop: the contract of ``lineage.train.Trainer``, kept in JAX and optax.

The zoo protocol lets an entry of another framework bring its loop (``train(run, cfg, progress)``) as long
as it writes the same run folder through :class:`lineage.run.Run`. So this loop does what the Trainer does,
the JAX way:

* **seeding** - the parameters from ``jax.random.key(train.seed)``; batch *s* from a numpy generator seeded
  by ``(train.seed, s, 0)`` exactly as the Trainer draws it; nothing else is random while training, so a
  resumed run needs no random state at all;
* **the update** - AdamW (optax) after clipping the global gradient norm to ``train.grad_clip``, compiled
  once with ``jax.jit``; the EMA of the parameters in the same compiled function;
* **checkpoints** - the parameter tree flattened to ``{"s4_0_1.ssm.C": array}`` in safetensors, optax's
  state as its list of leaves (rebuilt on its tree structure when read back), JSON for the rest;
* **exact resume** - parameters, EMA, optimizer state and step come back, the log is cut back to the
  checkpoint, the learning rate may change (``train.lr``), and the run continues as if never stopped;
* **the NaN guard** - a non-finite loss or gradient norm stops training with one line
  (:class:`lineage.train.TrainingDiverged`); the update that produced it is thrown away.
"""

from __future__ import annotations

import time
import warnings
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax
import torch

from lineage import progress
from lineage.train import DivergenceWatch, TrainingDiverged
from zoo.sashimi.model import Built, batch_arrays, build, load_weights, nats, sample, to_arrays


def optimizer(tc) -> optax.GradientTransformation:
    """Clip the global norm (never, when ``grad_clip`` is 0 - the state has the same shape either way, so a
    resume may switch it on), then AdamW with the learning rate kept in the state (a resume may lower it)."""
    clip = optax.clip_by_global_norm(tc.grad_clip if tc.grad_clip > 0 else float("inf"))
    adamw = optax.inject_hyperparams(optax.adamw)(learning_rate=tc.lr, b1=tc.betas[0], b2=tc.betas[1],
                                                  weight_decay=tc.weight_decay)
    return optax.chain(clip, adamw)


@partial(jax.jit, static_argnums=(0, 1))
def update(module, tx, params, opt_state, ema, decay, inputs, target, mask, cond):
    """One step: the loss and its gradient, AdamW, the EMA ``theta_ema <- beta theta_ema + (1-beta) theta``."""
    loss, grads = jax.value_and_grad(nats, argnums=1)(module, params, inputs, target, mask, cond)
    updates, opt_state = tx.update(grads, opt_state, params)
    params = optax.apply_updates(params, updates)
    ema = jax.tree_util.tree_map(lambda e, p: decay * e + (1 - decay) * p, ema, params)
    return params, opt_state, ema, loss, optax.tree.norm(grads)


def check_device(device: str) -> None:
    if device in ("cuda", "mps") and not any(d.platform == "gpu" for d in jax.devices()):
        raise ValueError(f"train.device is {device!r} but JAX sees no GPU (SaShiMi runs on JAX: install a "
                         f"CUDA build of jaxlib, e.g. pip install 'jax[cuda12]'); use train.device=cpu")


def train(run, cfg, progress_bar: bool = True) -> dict:
    """Train ``cfg`` into ``run`` (a :class:`lineage.run.Run` already started by ``lineage.train.train``),
    resuming from its latest checkpoint if it has one. Returns the last step's logs."""
    tc = cfg.train
    check_device(tc.device)
    trainset, _ = run.data()
    model = build(cfg)
    tx = optimizer(tc)
    params, opt_state, step = model.params, tx.init(model.params), 0
    ema = params
    if run.checkpoints:
        params, ema, opt_state, step = restore(run, model, tx, tc)
    decay = jnp.float32(tc.ema)
    watch, last, t0 = DivergenceWatch(), {}, time.perf_counter()
    bar = progress.bar(total=tc.steps, initial=step, desc="train sashimi", unit="step") if progress_bar else None
    while step < tc.steps:
        rng = np.random.default_rng([tc.seed, step, 0])  # the Trainer's data order, step for step
        batch = batch_arrays(model, trainset.batch(rng, tc.batch_size, cfg.data.segment, cfg.data.crop))
        new = update(model.module, tx, params, opt_state, ema, decay, *batch)
        loss, gnorm = float(new[3]), float(new[4])
        for what, value in (("loss", loss), ("loss's gradient norm", gnorm)):
            if not np.isfinite(value):
                latest = run.latest
                keep = f"the last good checkpoint is {latest.name}" if latest else "no checkpoint was written"
                raise TrainingDiverged(f"training diverged: {what} became {value} at step {step + 1}; {keep} "
                                       f"(resume with --resume after lowering train.lr or setting train.grad_clip)")
        params, opt_state, ema = new[:3]
        step += 1
        last = {"step": step, "loss": loss, "bits": loss / np.log(2), "grad_norm": gnorm}  # bits: as WaveNet logs
        if bar is not None:
            bar.update(1)
            bar.set_postfix({"loss": f"{loss:.4g}", "bits": f"{loss / np.log(2):.3g}"}, refresh=False)
        if step % tc.log_every == 0 or step == tc.steps:
            run.append_log({**last, "time": round(time.perf_counter() - t0, 3)})
        for message in watch.update(last, "train sashimi", lambda: run.latest):
            warnings.warn(message, stacklevel=2)
        if step % tc.checkpoint_every == 0 or step == tc.steps:
            save(run, step, params, ema if tc.ema > 0 else None, opt_state, tc.keep_checkpoints)
        if tc.sample_every and step % tc.sample_every == 0 and step < tc.steps:
            write_samples(run, Built(model.module, ema if tc.ema > 0 else params, cfg), trainset, step)
    if bar is not None:
        bar.close()
    if not run.has_samples(f"step_{step:07d}"):
        write_samples(run, Built(model.module, ema if tc.ema > 0 else params, cfg), trainset, step)
    return last


def save(run, step: int, params, ema, opt_state, keep: int):
    """A checkpoint in the common layout: safetensors of the flattened trees, optax's state as leaves."""
    leaves = [torch.from_numpy(np.array(leaf)) for leaf in jax.tree_util.tree_leaves(opt_state)]
    return run.write_checkpoint(step, to_arrays(params), to_arrays(ema) if ema is not None else None,
                                {"model": {"leaves": leaves}}, {}, keep)


def restore(run, model: Built, tx, tc):
    """Parameters, EMA, optimizer state and step of the run's latest checkpoint, with ``train.lr`` set."""
    ckpt = run.read_checkpoint()
    params = load_weights(model, {k: v.numpy() for k, v in ckpt["weights"].items()}).params
    ema = params if ckpt["ema"] is None else load_weights(model, {k: v.numpy() for k, v in ckpt["ema"].items()}).params
    template = tx.init(params)
    shape = jax.tree_util.tree_structure(template)
    saved = ckpt["optimizers"].get("model", {}).get("leaves", [])
    if len(saved) != shape.num_leaves:
        raise ValueError(f"{ckpt['path']}: the optimizer state has {len(saved)} arrays, this optimizer "
                         f"{shape.num_leaves}")
    leaves = [jnp.asarray(s.numpy(), t.dtype) for s, t in zip(saved, jax.tree_util.tree_leaves(template))]
    opt_state = jax.tree_util.tree_unflatten(shape, leaves)
    opt_state[-1].hyperparams["learning_rate"] = jnp.asarray(tc.lr, jnp.float32)  # train.lr may have changed
    run.truncate_log(ckpt["step"])  # forget whatever a killed run logged after its last checkpoint
    return params, ema, opt_state, ckpt["step"]


def write_samples(run, model: Built, trainset, step: int):
    tc = model.cfg.train
    cond = trainset.label_batch(tc.sample_n, seed=tc.seed)
    audio = sample(model, tc.sample_n, tc.sample_seconds, seed=tc.seed, cond=cond)
    return run.write_samples(f"step_{step:07d}", audio, [trainset.caption(cond, i) for i in range(len(audio))])
