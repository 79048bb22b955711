"""The judge: a small log-mel CNN that classifies a data set's clips, trained once per data set and cached.

FID, IS, mIS, AM and NDB all look at audio through a classifier, as the SC09 papers did with their
speech-commands classifiers (WaveGAN and DiffWave used an Inception-style net, SaShiMi a ResNeXt). Ours is
deliberately small - four conv blocks over a log-mel spectrogram, global pooling, a 128-unit penultimate
layer (the FID/NDB embedding) and a linear layer to the classes - and trained on the run's own data
config, on the same train/held-out split the models use. Its held-out accuracy is always reported: a
weak judge makes every metric meaningless, so a classifier below ``FLOOR`` is flagged wherever its
metrics are shown.

Trained classifiers are cached in ``<data root>/.classifiers/<key>/`` (safetensors + JSON), keyed by
the data config, the label and the seed, so every model evaluated on the same data meets the same judge.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

FLOOR = 0.8  # held-out accuracy below which the classifier's metrics are flagged as unreliable
VERSION = 2  # bump when the architecture or training changes: old caches are then ignored
# 2: trained on degraded clips (lineage.eval.degrade.augment), so it keys on content, not on a noise floor


class LogMel(nn.Module):
    """``audio [B, T] -> log-mel [B, 1, n_mels, frames]`` with librosa's mel filterbank."""

    def __init__(self, sample_rate: int, n_mels: int = 64):
        super().__init__()
        import librosa

        self.n_fft = 1024 if sample_rate >= 16000 else 512
        self.hop = sample_rate // 100  # 10 ms frames
        mel = librosa.filters.mel(sr=sample_rate, n_fft=self.n_fft, n_mels=n_mels)  # [M, F]
        self.register_buffer("mel", torch.from_numpy(mel).float(), persistent=False)
        self.register_buffer("window", torch.hann_window(self.n_fft), persistent=False)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        spec = torch.stft(audio, self.n_fft, self.hop, window=self.window, return_complex=True).abs() ** 2
        return torch.log(self.mel @ spec + 1e-6)[:, None]  # [B, 1, M, frames]


def mel_convs(width: int) -> nn.Sequential:
    """Four blocks of 3x3 convolution, batch norm, ReLU and 2x2 max pooling over a log-mel image
    ``[B, 1, M, frames]`` -> ``[B, 2 width, M / 16, frames / 16]`` (the judge's, and CLAP's audio tower)."""
    chans = [1, width, width, 2 * width, 2 * width]
    blocks = []
    for c_in, c_out in zip(chans[:-1], chans[1:]):
        blocks += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(), nn.MaxPool2d(2)]
    return nn.Sequential(*blocks)


class AudioClassifier(nn.Module):
    def __init__(self, sample_rate: int, n_classes: int, width: int = 16, embed: int = 128):
        super().__init__()
        self.sample_rate = sample_rate
        self.frontend = LogMel(sample_rate)
        self.convs = mel_convs(width)
        self.embed = nn.Linear(4 * width, embed)
        self.out = nn.Linear(embed, n_classes)
        self.dropout = nn.Dropout(0.2)

    def features(self, audio: torch.Tensor) -> torch.Tensor:
        """Penultimate activations ``[B, embed]`` - the space FID and NDB measure in."""
        h = self.convs(self.frontend(audio))  # [B, C, M/16, frames/16]
        h = torch.cat([h.mean(dim=(2, 3)), h.amax(dim=(2, 3))], dim=1)  # global mean and max pooling
        return F.relu(self.embed(h))

    def forward(self, audio: torch.Tensor) -> torch.Tensor:  # [B, T] -> logits [B, K]
        return self.out(self.dropout(self.features(audio)))

    @torch.no_grad()
    def classify(self, clips: np.ndarray, batch: int = 64) -> tuple[np.ndarray, np.ndarray]:
        """``(probs [N, K], features [N, embed])`` of clips ``[N, T]``."""
        self.eval()
        probs, feats = [], []
        for i in range(0, len(clips), batch):
            x = torch.as_tensor(np.asarray(clips[i:i + batch]), dtype=torch.float32).reshape(-1, clips.shape[-1])
            f = self.features(x)
            probs.append(torch.softmax(self.out(f), dim=-1).numpy())
            feats.append(f.numpy())
        return np.concatenate(probs).astype(np.float64), np.concatenate(feats).astype(np.float64)


@dataclass
class Judge:
    """A trained classifier and what is known about it."""

    model: AudioClassifier
    label: str  # which label it predicts
    classes: list[str]
    test_accuracy: float
    info: dict

    @property
    def reliable(self) -> bool:
        """Accurate enough on held-out clips - and with something to tell apart: on a set with one
        class (one instrument) every clip is 'recognised', and IS, FID and NDB measure nothing useful."""
        return self.test_accuracy >= FLOOR and len(self.classes) >= 2

    def targets(self, values) -> np.ndarray:
        """Label values (e.g. MIDI pitches, vocab indices) -> this judge's class indices."""
        return class_index(np.asarray(values), np.asarray(self.info["values"]))


def cache_key(data_cfg, label: str, seed: int, steps: int, degraded: bool = True) -> str:
    from dataclasses import asdict

    d = asdict(data_cfg)
    d.pop("segment"), d.pop("crop")  # how models cut training examples does not change the clips
    blob = json.dumps({"data": d, "label": label, "seed": seed, "steps": steps, "version": VERSION,
                       **({} if degraded else {"degraded": False})}, sort_keys=True)
    return f"{data_cfg.name}-{hashlib.sha256(blob.encode()).hexdigest()[:12]}"


def class_values(dataset, label: str) -> tuple[np.ndarray, list[str]]:
    """The values of ``label`` present in a data set (sorted) and their names: the judge's classes.
    Only classes present count - a set filtered to three timbres is judged on three classes."""
    present = np.unique(dataset.labels[label])
    vocab = dataset.vocab.get(label)
    return present, [vocab[v] if vocab else str(v) for v in present]


def class_index(values: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Label values -> class indices 0..K-1 (``present`` from :func:`class_values`); -1 if absent."""
    idx = np.searchsorted(present, values).clip(0, len(present) - 1)
    return np.where(present[idx] == values, idx, -1)


def get_judge(data_cfg, label: str | None = None, seed: int = 0, root: Path | None = None,
              steps: int = 1000, progress: bool = False, dataset=None, degraded: bool = True) -> Judge:
    """The cached classifier for ``data_cfg`` (trained now if there is none); ``dataset`` is the loaded
    set when the caller has it already. ``degraded=False`` trains it on clean clips with only a gain and a
    shift, as version 1 was - the ablation ``benchmarks/metric_ladder.py`` measures, never what
    ``lineage eval`` uses."""
    from safetensors.torch import load_file

    from lineage.data import data_root, load

    dataset = dataset if dataset is not None else load(data_cfg)
    label = label or dataset.class_label
    if label is None or label not in dataset.labels:
        raise ValueError(f"data set {data_cfg.name} has no label {label!r} to train a classifier on; "
                         f"labels: {sorted(dataset.labels)}")
    folder = (root or data_root()) / ".classifiers" / cache_key(data_cfg, label, seed, steps, degraded)
    if (folder / "info.json").is_file():
        info = json.loads((folder / "info.json").read_text())
        model = AudioClassifier(data_cfg.sample_rate, len(info["classes"]))
        model.load_state_dict(load_file(folder / "model.safetensors"))
        return Judge(model.eval(), label, info["classes"], info["test_accuracy"], info)
    return train_judge(dataset, data_cfg, label, seed, folder, steps, progress, degraded)


def train_judge(dataset, data_cfg, label: str, seed: int, folder: Path, steps: int = 1000,
                progress: bool = False, degraded: bool = True) -> Judge:
    """Train on the models' training split, measure on their held-out split, cache in ``folder``."""
    from safetensors.torch import save_file

    from lineage.eval.degrade import augment, gain, shift
    from lineage.files import write_atomic

    trainset, testset = dataset.split(data_cfg.holdout, seed=data_cfg.seed)
    present, classes = class_values(dataset, label)
    y_train = class_index(trainset.labels[label], present)
    y_test = class_index(testset.labels[label], present)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = AudioClassifier(data_cfg.sample_rate, len(classes))
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps)
    x_all = torch.from_numpy(trainset.audio)
    t0 = time.perf_counter()
    model.train()
    for step in range(steps):
        idx = rng.integers(0, len(trainset), 32)
        # the clips as generated audio is wrong: noise floors, quantisation, gain, shifts, band limits,
        # so the judge keys on the note, the drum or the word, not on digital silence between partials
        if degraded:
            x = augment(x_all[idx].clone(), data_cfg.sample_rate, rng)
        else:  # the ablation: clean clips, a gain of -12..+3 dB and a shift only
            x = shift(gain(x_all[idx], torch.from_numpy(rng.uniform(-12, 3, len(idx))).float()),
                      int(rng.integers(0, x_all.shape[1] // 8 + 1)))
        loss = F.cross_entropy(model(x), torch.from_numpy(y_train[idx]))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if progress and (step + 1) % 250 == 0:
            print(f"  classifier step {step + 1}/{steps}: loss {loss.item():.3f}", flush=True)
    train_time = time.perf_counter() - t0
    model.eval()
    probs, _ = model.classify(testset.audio) if len(testset) else (np.zeros((0, len(classes))), None)
    acc = float((probs.argmax(axis=1) == y_test).mean()) if len(testset) else float("nan")
    info = {"label": label, "classes": classes, "test_accuracy": acc, "n_train": len(trainset),
            "n_test": len(testset), "values": present.tolist(), "steps": steps, "seed": seed,
            "train_seconds": round(train_time, 1),
            "parameters": sum(p.numel() for p in model.parameters()), "floor": FLOOR, "version": VERSION,
            "degraded": degraded}
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / "model.safetensors.tmp"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, tmp)
    tmp.replace(folder / "model.safetensors")
    write_atomic(folder / "info.json", json.dumps(info, indent=2))  # written last: marks the cache complete
    return Judge(model, label, classes, acc, info)
