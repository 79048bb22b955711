"""``lineage demo`` (``make demo``): every zoo entry's shipped weights heard on one page, in a few minutes.

Nothing is trained and no data set is built. Entries are taken in the order of the lineage; each one's
shipped run folder (:mod:`lineage.pretrained`) is copied to ``OUT/NAME``, where its model writes
``samples/demo/``:

* a generator (every entry without ``reconstruct``) makes ``n`` clips, conditioned on labels drawn from
  its training split as ``lineage sample`` does;
* an autoencoder or vocoder (an entry with ``reconstruct``) has nothing of its own to say: it
  regenerates the held-out clips kept beside its weights, heard original then reconstruction.

The listening page ``OUT/listening.html`` is written again after every entry, so the first model can be
heard while the others are still generating. ``make tour`` is the other way round: train every ``tiny``
preset now, then listen.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import torch

from lineage import listen, pretrained, registry, timeline
from lineage.audio import fit_length
from lineage.run import Run


def order(names: list[str]) -> list[str]:
    """Entry names in the order of the lineage (year, then as the timeline lists systems)."""
    rank = {s.name: (s.year, i) for i, s in enumerate(timeline.SYSTEMS)}
    return sorted(names, key=lambda n: (rank.get(registry.load(n).system, (9999, 0)), n))


def demo(out: Path, n: int = 4, seconds: float = 1.0, device: str = "cpu", log=print) -> Path:
    """Write ``out/listening.html`` from every entry's shipped weights; returns its path."""
    out = Path(out)
    page = out / "listening.html"
    names = order([name for name in registry.names() if pretrained.available(name)])
    if not names:
        raise FileNotFoundError("no zoo entry ships weights here (zoo/NAME/pretrained/); `make pretrain "
                                "NAME=...` makes them, `make tour` trains every tiny preset instead")
    log(f"demo: {len(names)} entries with shipped weights, no training; the page is {page} (rewritten "
        f"after each entry)")
    runs, t_start = [], time.perf_counter()
    for i, name in enumerate(names, 1):
        t0 = time.perf_counter()
        run = _fresh_copy(pretrained.folder(name), out / name)
        model = run.model(device=device)  # (whether it reconstructs can depend on how it was built)
        what = "reconstructing its held-out clips" if run.entry.has("reconstruct", model) else \
            f"generating {n} clips of {seconds:g} s"
        log(f"[{i}/{len(names)}] {run.entry.system}: {what} ...", end=" ", flush=True)
        folder = _generate(run, model, n, seconds, device)
        runs.append(run)
        listen.write_page(runs, page)
        log(f"{time.perf_counter() - t0:.1f} s -> {folder / '00.wav'}")
    log(f"done in {time.perf_counter() - t_start:.0f} s; open {page}")
    return page


def _fresh_copy(src: Path, dst: Path) -> Run:
    """The shipped folder copied to ``dst`` (what an earlier demo wrote there is replaced)."""
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("eval", "recon"))
    return Run(dst)


def _generate(run: Run, model, n: int, seconds: float, device: str) -> Path:
    entry, cfg = run.entry, run.config
    if entry.has("reconstruct", model):
        ref = pretrained.reference_clips(run)
        prepared = entry.prepare(cfg, ref)  # the features the model reads (e.g. DDSP's f0 and loudness)
        length = ref.audio.shape[1]
        batch = prepared.take(np.arange(len(ref)), length)
        with torch.no_grad():
            recon = entry.reconstruct(model, {k: v.to(device) for k, v in batch.items()}, seed=0)
        recon = fit_length(recon.reshape(len(ref), -1), length)
        pairs = [x for a, b in zip(ref.audio, recon) for x in (a, b)]
        captions = [f"{kind} {ref.caption(ref.labels, i)}" for i in range(len(ref))
                    for kind in ("original", "reconstruction")]
        return run.write_samples("demo", np.stack(pairs), captions)
    labels = run.labels()
    cond = labels.label_batch(n, seed=0) if entry.cond_keys(cfg) else None
    with torch.no_grad():
        audio = entry.sample(model, n, seconds, seed=0, cond={k: v.to(device) for k, v in (cond or {}).items()})
    told = {labels.class_label if k == "class" else k for k in entry.cond_keys(cfg)}
    asked = {k: v for k, v in (cond or {}).items() if k in told}
    return run.write_samples("demo", audio, [labels.caption(asked, i) or "unconditional" for i in range(n)])
