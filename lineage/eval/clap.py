"""The CLAP judge: a :class:`lineage.clap.CLAP` trained once per captioned data set and cached, like the
classifier judge (:mod:`lineage.eval.classifier`), so every text-conditioned model evaluated on the same
data meets the same CLAP.

``lineage eval`` asks it for the **CLAP score** of a text-conditioned run: the mean cosine of each
generated clip to the caption it was asked for, beside the same score of real held-out clips with their
own captions (what a perfect model reaches) and of those clips with a stranger's caption (what a model
that ignored its prompt reaches). Cached in ``<data root>/.clap/<key>/`` (safetensors + JSON, keyed by
the data config, the seed, the steps and :data:`VERSION`).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from lineage.clap import CLAP, ClapConfig, clap_score, distinct, retrieval, zero_shot

VERSION = 2  # bump when the towers or the training change: old caches are then ignored
# 2: trained on degraded clips (lineage.eval.degrade.augment), as the classifier judge is
STEPS = 1000  # about 3 minutes on one core; cached, so paid once per data set and machine


@dataclass
class ClapJudge:
    model: CLAP
    info: dict  # training facts and held-out retrieval

    def score(self, audio: np.ndarray, tokens: np.ndarray) -> float:
        """The CLAP score of clips ``[N, T]`` against caption tokens ``[N, L]`` (any padding length)."""
        return clap_score(self.model.embed_clips(audio), self.model.embed_captions(tokens))


def train_clap(trainset, sample_rate: int, steps: int = STEPS, batch: int = 64, lr: float = 2e-3,
               seed: int = 0, cfg: ClapConfig | None = None, progress: bool = False) -> tuple[CLAP, list[dict]]:
    """Train a CLAP on a clip set's (clip, caption) pairs; returns the model and one log row per 50
    steps. Augmentation as the classifier judge's (:func:`lineage.eval.degrade.augment`): gain, shift,
    noise floors, quantisation and band limits, so the audio tower hears the sound, not its cleanliness."""
    from lineage.eval.degrade import augment
    from lineage.progress import bar

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = CLAP(sample_rate, trainset.vocab["text"], cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    audio, tokens = torch.from_numpy(trainset.audio), torch.from_numpy(trainset.labels["text"])
    log, shown = [], bar(steps, desc="CLAP", unit="step") if progress else None
    model.train()
    for step in range(steps):
        idx = rng.choice(len(trainset), min(batch, len(trainset)), replace=False)
        x = augment(audio[idx].clone(), sample_rate, rng)
        loss, logs = model.loss(x, tokens[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if (step + 1) % 50 == 0:
            log.append({"step": step + 1, **logs})
        if shown is not None:
            shown.update(1)
            shown.set_postfix({k: f"{v:.3g}" for k, v in logs.items()})
    if shown is not None:
        shown.close()
    return model.eval(), log


def held_out(model: CLAP, testset) -> dict:
    """Retrieval (recall@1, @5, both directions) on held-out pairs, with chance."""
    captions, which = distinct(testset.labels["text"])
    return retrieval(model.embed_clips(testset.audio), model.embed_captions(captions), which)


def cache_key(data_cfg, seed: int, steps: int) -> str:
    d = asdict(data_cfg)
    d.pop("segment"), d.pop("crop")  # how models cut training examples does not change the clips
    blob = json.dumps({"data": d, "seed": seed, "steps": steps, "version": VERSION,
                       "towers": asdict(ClapConfig())}, sort_keys=True)
    return f"{data_cfg.name}-{hashlib.sha256(blob.encode()).hexdigest()[:12]}"


def get_clap(data_cfg, seed: int = 0, steps: int | None = None, root: Path | None = None, dataset=None,
             progress: bool = False) -> ClapJudge:
    """The cached CLAP for ``data_cfg`` (trained now if there is none)."""
    from safetensors.torch import load_file, save_file

    from lineage.data import data_root, load
    from lineage.files import write_atomic

    steps = steps or STEPS
    folder = (root or data_root()) / ".clap" / cache_key(data_cfg, seed, steps)
    if (folder / "info.json").is_file():
        info = json.loads((folder / "info.json").read_text())
        model = CLAP(data_cfg.sample_rate, info["vocab"])
        model.load_state_dict(load_file(folder / "model.safetensors"))
        return ClapJudge(model.eval(), info)
    dataset = dataset if dataset is not None else load(data_cfg)
    if "text" not in dataset.labels:
        raise ValueError(f"data set {data_cfg.name} has no captions to train a CLAP on; "
                         f"captioned sets: drums, notes, digits, chorales")
    trainset, testset = dataset.split(data_cfg.holdout, seed=data_cfg.seed)
    t0 = time.perf_counter()
    model, log = train_clap(trainset, data_cfg.sample_rate, steps, seed=seed, progress=progress)
    info = {"data": data_cfg.name, "vocab": model.vocab, "steps": steps, "seed": seed,
            "train_seconds": round(time.perf_counter() - t0, 1), "n_train": len(trainset), "n_test": len(testset),
            "final": log[-1] if log else {},
            "parameters": sum(p.numel() for p in model.parameters()), "version": VERSION,
            "retrieval": held_out(model, testset) if len(testset) else {}}
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / "model.safetensors.tmp"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, tmp)
    tmp.replace(folder / "model.safetensors")
    write_atomic(folder / "info.json", json.dumps(info, indent=2))  # written last: marks the cache complete
    return ClapJudge(model, info)


# Zero-shot: one prompt per class, in a form no training caption has (no loudness, no pitch, no register).
PROMPTS = {"drums": ("drum", "a {drum}"), "notes": ("instrument", "a {name} note"),
           "digits": ("digit", "the word {name}"), "chorales": ("ensemble", "a chorale played by {name}")}


def class_prompts(dataset) -> tuple[str, list[str]]:
    """``(label, prompts)`` of a captioned set: prompt ``c`` names class ``c`` of ``label``."""
    from lineage.data.soundfont import DRUM_WORDS

    if dataset.name not in PROMPTS:
        raise ValueError(f"no zero-shot prompts for data set {dataset.name!r}; known: {sorted(PROMPTS)}")
    label, template = PROMPTS[dataset.name]
    names = dataset.vocab[label]
    return label, [template.format(name=n.lower().replace("(", "").replace(")", ""), drum=DRUM_WORDS.get(n, n))
                   for n in names]


def zero_shot_accuracy(judge: ClapJudge, clips) -> dict:
    """Zero-shot classification of ``clips`` by :func:`class_prompts`, with its chance values."""
    label, prompts = class_prompts(clips)
    emb = judge.model.embed_captions(judge.model.tokens(prompts))
    return {"label": label, "prompt": PROMPTS[clips.name][1],
            **zero_shot(judge.model.embed_clips(clips.audio), emb, clips.labels[label])}


def score_rows(judge: ClapJudge, testset, length: int, n: int, seed: int = 0) -> dict:
    """The two reference CLAP scores a generated set is read against: held-out clips with their own
    captions (``real``), and with captions shuffled so no clip keeps its own (``mismatched``)."""
    from lineage.audio import fit_length

    idx = np.arange(min(n, len(testset)))
    audio, tokens = fit_length(testset.audio[idx], length), testset.labels["text"][idx]
    other = np.roll(np.arange(len(idx)), 1)  # every clip gets its neighbour's caption
    return {"real": judge.score(audio, tokens), "mismatched": judge.score(audio, tokens[other])}
