"""Benchmark (not a test): our implementations against the authors' or the field's public code, at equal
configuration - is the readable version paying for its readability?

For each pair, the same architecture is built twice - ours from its ``tiny`` preset through the registry,
theirs from their own model class with the same sizes - and two things are timed on the CPU:

* **one training step**: forward, the loss each implementation trains its paper's objective with,
  backward and one ``AdamW`` step (no gradient clipping, no EMA: each loop adds its own), on the preset's
  batch shape;
* **generation** with the sampler both have: WaveNet sample by sample with per-layer caches (ours:
  Fast WaveNet queues; r9y9: ``incremental_forward``), the diffusion models' 6-step fast schedule.

========  =========================  =========================================  =========================
ours      upstream                   training loss (each its own)               generation
========  =========================  =========================================  =========================
wavenet   r9y9/wavenet_vocoder       256-way softmax cross-entropy (mu-law)     0.1 s, sample by sample
diffwave  lmnt-com/diffwave          eps-prediction: MSE (ours), L1 (theirs)    1 s, 6 steps, unconditional
wavegrad  ivanvovk/WaveGrad          L1 on the noise, continuous noise level    1 s from a mel, 6 steps
========  =========================  =========================================  =========================

Equal configuration: ours is the tiny preset, changed only where theirs cannot take its sizes (DiffWave
without its labels, WaveGrad's first audio convolution 32 channels wide); theirs gets our layers,
channels, dilations, kernel sizes, mel bins and upsampling factors. Both parameter counts are printed,
and below the table, what still differs between the two codes.

The measurements are **interleaved**: after a warm-up, ours and theirs alternate call by call (the
order flipping every repeat), so a machine that slows down or speeds up part-way - another job, thermal
throttling - slows both alike. Reported: the median wall time of each and the ratio of the medians,
``ours / upstream`` (below 1: ours is faster), plus the median of the per-pair ratios in the JSON.

Upstream code is never copied into this project: give the path of each checkout (any subset) and its
model class is imported from there::

    git clone https://github.com/r9y9/wavenet_vocoder /tmp/upstream/wavenet_vocoder   # likewise the others
    python benchmarks/upstream_speed.py --wavenet-vocoder /tmp/upstream/wavenet_vocoder \\
        --diffwave /tmp/upstream/diffwave --wavegrad /tmp/upstream/wavegrad \\
        [--threads 2] [--repeats 20] [--warmup 3] [--out FILE.json]

The commit of each checkout is read with ``git rev-parse`` when it is a git work tree; otherwise pass it:
``--commits wavenet=<sha> diffwave=<sha> wavegrad=<sha>``. Only torch and numpy are needed from the
upstreams' dependencies (their training scripts, which need tensorboard, torchaudio, nnmnkwii..., are
not imported; the few lines of their training and sampling loops that time depends on are restated
below, each with the file it comes from). Tiny (a smoke test): ``--repeats 3 --warmup 1 --threads 1``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import statistics
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from lineage import registry
from lineage.audio import mu_law_encode
from lineage.eval.speed import machine
from lineage.vocoder import LogMel


@dataclass
class Side:
    """One implementation's side of a comparison: its size and the two things timed (no arguments)."""

    parameters: int
    train_step: Callable[[], object]
    generate: Callable[[], torch.Tensor]  # returns the audio (or classes) generated, [n, ..., samples]


@dataclass
class Pair:
    name: str  # our zoo entry
    upstream: str  # owner/name on GitHub
    ours: Side
    theirs: Side
    batch: str  # the training batch, in words
    generation: str  # what one generation call makes
    overrides: list[str] = field(default_factory=list)  # changes to our tiny preset to match theirs
    notes: list[str] = field(default_factory=list)  # what could not be matched exactly


# --- what both sides share ---------------------------------------------------------------------------

def ours(name: str, overrides: list[str] = ()):
    """(entry, config, model for training, model for generation) of our tiny preset, seeded."""
    entry = registry.load(name)
    cfg = entry.config("tiny", overrides=list(overrides))
    torch.manual_seed(0)
    return entry, cfg, entry.build(cfg), entry.build(cfg).eval()


def our_step(entry, model, batch: dict, cfg) -> Callable[[], object]:
    """One update of the model's single training part, as ``lineage.train.Trainer`` makes it (less its
    NaN guard and clipping): ``loss -> zero_grad -> backward -> AdamW.step``."""
    (part,) = entry.steps(model)  # the three models here train whole: one part
    opt = torch.optim.AdamW(part.params, lr=cfg.train.lr, betas=tuple(cfg.train.betas),
                            weight_decay=cfg.train.weight_decay)

    def step():
        loss, _ = part.loss(model, batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return step


def their_step(net: torch.nn.Module, loss_fn: Callable[[], torch.Tensor], cfg) -> Callable[[], object]:
    """The same update for an upstream network, with our optimizer settings: only the loss differs."""
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.train.lr, betas=tuple(cfg.train.betas),
                            weight_decay=cfg.train.weight_decay)

    def step():
        loss = loss_fn()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return step


def tones(cfg, n: int, length: int) -> dict:
    """A batch as our data loader delivers it: ``audio [n, 1, length]`` (a sine per clip, at the pitch
    of its label) and the labels ``pitch [n]`` (MIDI 60..71) and ``class [n]`` (0..2). Speed does not
    depend on what the audio sounds like; only its shape matters."""
    pitch = 60 + torch.arange(n) % 12
    t = torch.arange(length) / cfg.data.sample_rate
    hz = 440.0 * 2.0 ** ((pitch.float() - 69) / 12)
    audio = 0.5 * torch.sin(2 * math.pi * hz[:, None] * t[None])  # [n, length]
    return {"audio": audio[:, None], "pitch": pitch, "class": torch.arange(n) % 3}


def n_params(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def on_path(checkout: Path, must_hold: str, flag: str, import_root: str = ".") -> None:
    """Put an upstream checkout's import root (``import_root`` inside it) first on ``sys.path``, after
    checking that the checkout holds ``must_hold``."""
    if not (checkout / must_hold).is_file():
        raise SystemExit(f"{flag} {checkout}: no {must_hold} there - give the root of a checkout of the "
                         f"upstream repository")
    sys.path.insert(0, str(checkout / import_root))


def quietly(fn, *args, **kwargs):
    """Call upstream code of 2018-2020 without its deprecation warnings on today's torch and numpy
    (``weight_norm``, ``torch.jit.script``, ``register_backward_hook``...): they say nothing about speed."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", (FutureWarning, DeprecationWarning, UserWarning))
        return fn(*args, **kwargs)


# --- WaveNet: r9y9/wavenet_vocoder --------------------------------------------------------------------

def wavenet(checkout: Path, seconds: float) -> Pair:
    entry, cfg, model, gen_model = ours("wavenet")
    m = cfg.model
    on_path(checkout, "wavenet_vocoder/wavenet.py", "--wavenet-vocoder")
    # the package's __init__ imports only its model modules (torch, numpy): a plain import works
    from wavenet_vocoder import WaveNet as R9y9WaveNet

    def build():
        torch.manual_seed(0)
        return R9y9WaveNet(
            out_channels=m.quantization, scalar_input=False,  # input_type "mulaw-quantize": 256-way softmax
            layers=m.dilation_cycle * m.stacks, stacks=m.stacks,  # dilations 1..2^(cycle-1), `stacks` times
            residual_channels=m.channels, gate_channels=2 * m.channels,  # theirs is split into filt, gate
            skip_out_channels=m.skip_channels, kernel_size=m.kernel_size,
            dropout=0.0,  # ours has none (their hparams.py default is 0 too)
            # global conditioning: one table, as wide as our two (pitch 128 + class 16), so the same size
            gin_channels=m.cond_channels, n_speakers=sum(m.cond_classes), use_speaker_embedding=True)

    net = quietly(build)
    batch = tones(cfg, cfg.train.batch_size, cfg.data.segment)
    # What their data loader delivers (train.py collate_fn): the mu-law classes one-hot [B, Q, T] as input,
    # the classes [B, T] as target, a speaker id [B, 1]; built here once, outside the timed step - ours
    # gets audio and encodes it inside its loss (a few elementwise operations).
    classes = mu_law_encode(batch["audio"][:, 0], m.quantization - 1)  # [B, T]
    one_hot = F.one_hot(classes, m.quantization).transpose(1, 2).float()  # [B, Q, T]
    speaker = batch["pitch"][:, None]  # [B, 1]

    def their_loss():
        # train.py __train_step: output t predicts sample t + 1; their MaskedCrossEntropyLoss with a mask
        # of all ones (every clip full length) is this plain mean
        logits = net(one_hot, None, speaker, False)  # [B, Q, T]
        return F.cross_entropy(logits[:, :, :-1], classes[:, 1:])

    # generation: synthesis.py first removes weight normalisation (make_generation_fast_), in eval mode
    gen_net = quietly(build).eval()
    quietly(gen_net.make_generation_fast_)
    length = int(round(seconds * cfg.data.sample_rate))
    label = {"pitch": torch.tensor([60]), "class": torch.tensor([0])}

    def their_generate():
        with torch.no_grad():  # [1, Q, length] one-hot samples drawn from softmax(logits)
            return quietly(gen_net.incremental_forward, g=torch.tensor([[60]]), T=length,
                           softmax=True, quantize=True)

    gains = n_params(net) - n_params(gen_net)  # weight_g of weight_norm, gone after make_generation_fast_
    return Pair(
        "wavenet", "r9y9/wavenet_vocoder",
        Side(entry.facts(model)["parameters"], our_step(entry, model, batch, cfg),
             lambda: torch.as_tensor(entry.sample(gen_model, 1, seconds, seed=0, cond=label))),
        Side(n_params(net), their_step(net, their_loss, cfg), their_generate),
        batch=f"{cfg.train.batch_size} x {cfg.data.segment} samples",
        generation=f"1 x {seconds:g} s ({length} samples), sample by sample with caches",
        notes=[f"theirs trains with weight normalisation on every convolution ({gains:,} of its parameters are "
               f"the gains g; generation removes it, as their synthesis.py does); without them "
               f"{n_params(gen_net):,}, the rest of the difference being the bias of their input convolution",
               "theirs feeds a one-hot input [B, 256, T] through a 1x1 convolution (with bias); ours looks the "
               "class up in an embedding table (the same product, without the 256-wide matmul)",
               "global conditioning: theirs is one speaker table (here 144 rows = our 128 pitches + 16 classes, "
               "one id per clip) whose vector is expanded to every time step and projected by a 1x1 "
               "convolution in every layer; ours sums two label embeddings and projects once per clip",
               "theirs scales residuals by sqrt(0.5) and the summed skips by sqrt(1/L); ours does not"])


# --- DiffWave: lmnt-com/diffwave ----------------------------------------------------------------------

def diffwave(checkout: Path, seconds: float) -> Pair:
    # theirs conditions on a mel spectrogram or on nothing - not on labels: ours without its labels
    overrides = ["model.cond_keys=[]", "model.cond_classes=[]"]
    entry, cfg, model, gen_model = ours("diffwave", overrides)
    m = cfg.model
    on_path(checkout, "src/diffwave/model.py", "--diffwave", import_root="src")  # the package is in src/
    # model.py and params.py import torch and numpy only (inference.py and learner.py need torchaudio,
    # tensorboard: not imported); model.py compiles a function with torch.jit.script on import
    LmntDiffWave = quietly(importlib.import_module, "diffwave.model").DiffWave
    from diffwave.params import AttrDict, params as base_params

    params = AttrDict(base_params).override(dict(
        residual_layers=m.layers, residual_channels=m.channels, dilation_cycle_length=m.dilation_cycle,
        unconditional=True, noise_schedule=np.linspace(m.beta_start, m.beta_end, m.diffusion_steps).tolist(),
        inference_noise_schedule=list(m.fast_betas)))

    def build():
        torch.manual_seed(0)
        return LmntDiffWave(params)

    net = quietly(build)
    batch = tones(cfg, cfg.train.batch_size, cfg.data.segment)
    audio = batch["audio"][:, 0]  # theirs takes [B, T]
    abar = torch.tensor(np.cumprod(1 - np.array(params.noise_schedule)), dtype=torch.float32)  # abar_t

    def their_loss():
        # learner.py DiffWaveLearner.train_step: a step t per clip, x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps,
        # L1 between eps and the prediction (their choice; the paper and ours: the L2 of DDPM)
        t = torch.randint(0, len(params.noise_schedule), (audio.shape[0],))
        a = abar[t][:, None]
        eps = torch.randn_like(audio)
        return F.l1_loss(net(a.sqrt() * audio + (1 - a).sqrt() * eps, t).squeeze(1), eps)

    gen_net = quietly(build).eval()
    length = int(round(seconds * cfg.data.sample_rate))
    times = aligned_steps(params.noise_schedule, params.inference_noise_schedule)

    def their_generate():
        # inference.py predict(fast_sampling=True) - not importable here (it imports torchaudio and
        # loads its weights from disk): ancestral steps on the 6-step schedule, the network told the
        # aligned fractional step t_s, the clip clamped to [-1, 1] after every step
        beta = np.array(params.inference_noise_schedule)
        alpha, alpha_cum = 1 - beta, np.cumprod(1 - beta)
        with torch.no_grad():
            x = torch.randn(1, length)
            for s in reversed(range(len(beta))):
                eps = gen_net(x, torch.tensor([times[s]], dtype=torch.float32)).squeeze(1)
                x = (x - beta[s] / (1 - alpha_cum[s]) ** 0.5 * eps) / alpha[s] ** 0.5
                if s > 0:
                    x = x + ((1 - alpha_cum[s - 1]) / (1 - alpha_cum[s]) * beta[s]) ** 0.5 * torch.randn_like(x)
                x = x.clamp(-1, 1)
        return x

    return Pair(
        "diffwave", "lmnt-com/diffwave",
        Side(entry.facts(model)["parameters"], our_step(entry, model, batch, cfg),
             lambda: torch.as_tensor(entry.sample(gen_model, 1, seconds, seed=0))),
        Side(n_params(net), their_step(net, their_loss, cfg), their_generate),
        batch=f"{cfg.train.batch_size} x {cfg.data.segment} samples",
        generation=f"1 x {seconds:g} s ({length} samples), {len(m.fast_betas)} steps",
        overrides=overrides,
        notes=["ours is built without its pitch and class labels (theirs has no label conditioning): the "
               "unconditional DiffWave of both",
               "losses differ as the two codes do: MSE (ours, the DDPM simple loss) and L1 (theirs)",
               "theirs looks the diffusion-step embedding up in a table (interpolating for fractional steps); "
               "ours computes the sinusoids"])


def aligned_steps(train_betas, infer_betas) -> list[float]:
    """DiffWave's fast-sampling alignment (appendix B): the fractional training step whose noise level
    ``sqrt(abar)`` equals each inference step's. Computed once, outside the timing, for their sampler."""
    from lineage.diffusion import Schedule
    from zoo.diffwave.model import aligned_steps as ours_aligned  # the same formula, already tested

    return ours_aligned(Schedule(train_betas), Schedule(infer_betas))


# --- WaveGrad: ivanvovk/WaveGrad ----------------------------------------------------------------------

def wavegrad(checkout: Path, seconds: float) -> Pair:
    # their FiLM for the full-rate audio reads 32 channels, a constant in model/nn.py (film_in_sizes =
    # [32] + ...): our first audio convolution is made 32 wide to match
    preset = registry.load("wavegrad").config("tiny").model
    overrides = [] if preset.down_channels[0] == 32 else \
        [f"model.down_channels={[32, *preset.down_channels[1:]]}"]
    entry, cfg, model, gen_model = ours("wavegrad", overrides)
    m = cfg.model
    on_path(checkout, "model/diffusion_process.py", "--wavegrad")
    if not hasattr(np, "product"):
        np.product = np.prod  # their model calls np.product, removed in NumPy 2.0; the same function
    from model import WaveGrad as IvanvovkWaveGrad  # their package is named `model`

    n = len(m.upsample)
    config = SimpleNamespace(  # the fields of their configs/default.json that the model reads
        data_config=SimpleNamespace(n_mels=m.mel_bins, hop_length=m.hop),
        model_config=SimpleNamespace(
            factors=list(m.upsample),
            upsampling_preconv_out_channels=m.mel_channels, upsampling_out_channels=list(m.up_channels),
            upsampling_dilations=[[1, 2, 4, 8]] * n,  # ours: 1, 2, 4, 8 in every UBlock (the paper's figure 3)
            downsampling_preconv_out_channels=m.down_channels[0],
            downsampling_out_channels=list(m.down_channels[1:]),
            downsampling_dilations=[[1, 2, 4]] * (n - 1)))

    def build():
        torch.manual_seed(0)
        return IvanvovkWaveGrad(config)

    net = quietly(build)
    # train.py: the fine training schedule, set on the model
    net.set_new_noise_schedule(init=torch.linspace, init_kwargs={
        "steps": m.diffusion_steps, "start": m.beta_start, "end": m.beta_end})
    batch = tones(cfg, cfg.train.batch_size, cfg.data.segment)
    # Their train.py computes each batch's mel inside the loop (mel_fn(batch), torchaudio); ours does it
    # inside its loss. The same front end (ours) stands in for theirs, so both steps pay for it alike.
    log_mel = LogMel(cfg.data.sample_rate, m.mel_bins, m.n_fft, m.hop)

    def their_loss():
        mel = log_mel(batch["audio"])  # [B, M, T / hop]
        return net.compute_loss(mel, batch["audio"][:, 0])  # L1 on the noise, continuous noise level

    # inference.py: the model given the 6-iteration schedule, then model.forward(mel)
    gen_net = quietly(build).eval()
    fast = torch.tensor(m.fast_betas, dtype=torch.float32)
    gen_net.set_new_noise_schedule(init=lambda **_: fast, init_kwargs={"steps": len(fast)})
    length = int(round(seconds * cfg.data.sample_rate))
    mel = log_mel(tones(cfg, 1, length)["audio"][..., : length - length % m.hop])  # [1, M, frames]

    return Pair(
        "wavegrad", "ivanvovk/WaveGrad",
        Side(entry.facts(model)["parameters"], our_step(entry, model, batch, cfg),
             lambda: torch.as_tensor(entry.sample(gen_model, 1, seconds, seed=0, cond={"mel": mel}))),
        Side(n_params(net), their_step(net, their_loss, cfg), lambda: quietly(gen_net, mel)),
        batch=f"{cfg.train.batch_size} x {cfg.data.segment} samples, mel computed in the step",
        generation=f"1 x {seconds:g} s ({mel.shape[-1]} mel frames), {len(fast)} steps",
        overrides=overrides,
        notes=["up- and downsampling differ as the codes do: linear interpolation (theirs), repetition and "
               "average pooling (ours)",
               "theirs draws the noise level with numpy and keeps its schedule as buffers; ours uses "
               "lineage.diffusion.Schedule (float64)"])


# --- timing -------------------------------------------------------------------------------------------

def interleaved(fns: dict[str, Callable], warmup: int, repeats: int) -> dict[str, list[float]]:
    """Wall times of each function, called in turn: ``warmup`` untimed rounds, then ``repeats`` timed
    rounds, the order reversed every other round so neither side always runs first."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    names = list(fns)
    times = {k: [] for k in names}
    for r in range(repeats):
        for k in names if r % 2 == 0 else names[::-1]:
            t0 = time.perf_counter()
            fns[k]()
            times[k].append(time.perf_counter() - t0)
    return times


def measure(pair: Pair, what: str, warmup: int, repeats: int) -> dict:
    times = interleaved({"ours": getattr(pair.ours, what), "upstream": getattr(pair.theirs, what)},
                        warmup, repeats)
    ours_s, theirs_s = statistics.median(times["ours"]), statistics.median(times["upstream"])
    return {"ours_median_s": ours_s, "upstream_median_s": theirs_s, "ratio": ours_s / theirs_s,
            # the ratio within each round, where both ran seconds apart: robust to slow drifts of load
            "paired_ratio_median": statistics.median(a / b for a, b in zip(times["ours"], times["upstream"])),
            "ours_s": [round(t, 5) for t in times["ours"]], "upstream_s": [round(t, 5) for t in times["upstream"]]}


def commit_of(checkout: Path, given: str | None) -> str | None:
    """The checkout's HEAD when it is the top of a git work tree (not a folder inside another repository),
    else what ``--commits`` said."""
    try:
        top = subprocess.run(["git", "-C", str(checkout), "rev-parse", "--show-toplevel"],
                             capture_output=True, text=True, check=True).stdout.strip()
        if Path(top).resolve() == checkout.resolve():
            return subprocess.run(["git", "-C", str(checkout), "rev-parse", "HEAD"],
                                  capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return given


def fmt(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--wavenet-vocoder", type=Path, help="checkout of r9y9/wavenet_vocoder (for zoo/wavenet)")
    p.add_argument("--diffwave", type=Path, help="checkout of lmnt-com/diffwave (for zoo/diffwave)")
    p.add_argument("--wavegrad", type=Path, help="checkout of ivanvovk/WaveGrad (for zoo/wavegrad)")
    p.add_argument("--commits", nargs="*", default=[], metavar="ENTRY=SHA",
                   help="upstream commits, for checkouts that are not git work trees (wavenet=..., ...)")
    p.add_argument("--wavenet-seconds", type=float, default=0.1, help="audio WaveNet generates per call")
    p.add_argument("--seconds", type=float, default=1.0, help="audio the diffusion vocoders generate per call")
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--no-generation", action="store_true", help="time the training steps only")
    p.add_argument("--out", type=Path, default=None, help="also write the figures here (JSON)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    commits = dict(item.split("=", 1) for item in args.commits)

    pairs = [("wavenet", args.wavenet_vocoder, wavenet, args.wavenet_seconds),
             ("diffwave", args.diffwave, diffwave, args.seconds),
             ("wavegrad", args.wavegrad, wavegrad, args.seconds)]
    builders = [(name, path, build, seconds) for name, path, build, seconds in pairs if path is not None]
    if not builders:
        p.error("give at least one checkout: --wavenet-vocoder, --diffwave or --wavegrad")

    results = []
    for name, path, build, seconds in builders:
        pair = build(path, seconds)
        what = ["train_step"] if args.no_generation else ["train_step", "generate"]
        # both generators must make the same number of samples, or the comparison means nothing
        if not args.no_generation:
            lengths = {side: quietly(getattr(pair, side).generate).shape[-1] for side in ("ours", "theirs")}
            if len(set(lengths.values())) != 1:
                raise RuntimeError(f"{name}: the two generators made different lengths {lengths}")
        results.append({
            "name": name, "upstream": pair.upstream, "checkout": str(path),
            "commit": commit_of(path, commits.get(name)),
            "parameters": {"ours": pair.ours.parameters, "upstream": pair.theirs.parameters},
            "overrides": pair.overrides, "notes": pair.notes,
            "batch": pair.batch, "generation": pair.generation,
            **{w: quietly(measure, pair, w, args.warmup, args.repeats) for w in what}})

    info = machine()
    result = {"cpu": info["cpu"], "threads": args.threads, "repeats": args.repeats, "warmup": args.warmup,
              "machine": info, "entries": results}

    # --- the table --------------------------------------------------------------------------------
    print("| ours | upstream @ commit | parameters (ours / upstream) | measured | ours | upstream | ours / upstream |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        head = [r["name"], f"{r['upstream']} @ {(r['commit'] or '?')[:7]}",
                f"{r['parameters']['ours']:,} / {r['parameters']['upstream']:,}"]
        for w, label in [("train_step", f"training step ({r['batch']})"),
                         ("generate", f"generation ({r['generation']})")]:
            if w in r:
                m = r[w]
                print(f"| {' | '.join(head)} | {label} | {fmt(m['ours_median_s'])} | {fmt(m['upstream_median_s'])} "
                      f"| {m['ratio']:.2f} |")
                head = ["", "", ""]
    print(f"\nMedians of {args.repeats} interleaved calls after {args.warmup} warm-up rounds; "
          f"{info['cpu']}, {args.threads} torch threads, torch {info['torch']}. Below 1: ours is faster.")
    for r in results:
        print(f"\n{r['name']} vs {r['upstream']}:")
        for line in ([f"our tiny preset with {', '.join(r['overrides'])}"] if r["overrides"] else []) + r["notes"]:
            print(f"- {line}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        print(f"\nwrote {args.out}")
    return result


if __name__ == "__main__":
    main()
