"""Golden fixtures for the S4D layer, computed by the authors' own PyTorch code.

    make golden-s4 S4=PATH          # PATH: a checkout of github.com/state-spaces/s4
    python scripts/golden_s4d.py PATH [--out tests/golden/s4d.npz]

The authors' repository is not on any package registry, so it is read from a checkout given here. This
script imports their minimal S4D (``models/s4/s4d.py``; it needs torch and einops), draws small layers
with fixed seeds - their own initialisation (S4D-Lin), and the same with every parameter perturbed so no
value is special - in float64, and writes each layer's parameters, its convolution kernel and its output
on a fixed input. ``tests/test_sashimi.py`` loads our JAX layer with those parameters and must reproduce
both, without the authors' code. (Their layer is ``[B, H, L]``; ours is ``[B, L, H]``.)
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
CASES = {"lin": dict(h=6, n=16, length=128, perturb=False, seed=0),
         "perturbed": dict(h=5, n=24, length=96, perturb=True, seed=1)}


def their_s4d(checkout: Path):
    path = checkout / "models" / "s4" / "s4d.py"
    if not path.is_file():
        raise SystemExit(f"{checkout}: no models/s4/s4d.py here; pass a checkout of github.com/state-spaces/s4")
    sys.path.insert(0, str(checkout))  # their file imports src.models.nn from the repository root
    spec = importlib.util.spec_from_file_location("authors_s4d", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.S4D


def case(S4D, h: int, n: int, length: int, perturb: bool, seed: int) -> dict[str, np.ndarray]:
    torch.manual_seed(seed)
    layer = S4D(h, d_state=n).double().eval()
    if perturb:
        with torch.no_grad():
            kernel = layer.kernel
            kernel.log_A_real.add_(0.7 * torch.randn_like(kernel.log_A_real))
            kernel.A_imag.mul_(torch.exp(0.3 * torch.randn_like(kernel.A_imag)))
            kernel.log_dt.add_(0.5 * torch.randn_like(kernel.log_dt))
    u = torch.randn(2, h, length, dtype=torch.float64)
    with torch.no_grad():
        k = layer.kernel(L=length)
        y, _ = layer(u)
    out = {name: p.detach().numpy() for name, p in layer.state_dict().items()}
    out.update({"u": u.numpy(), "kernel": k.numpy(), "y": y.numpy()})
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("checkout", type=Path, help="a checkout of github.com/state-spaces/s4")
    p.add_argument("--out", type=Path, default=ROOT / "tests" / "golden" / "s4d.npz")
    p.add_argument("--commit", default="", help="the checkout's commit, when it is not a git repository")
    args = p.parse_args(argv)
    S4D = their_s4d(args.checkout.resolve())
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=args.checkout, capture_output=True, text=True)
    arrays = {"commit": np.array(commit.stdout.strip() or args.commit or "unknown")}
    for name, spec in CASES.items():
        arrays.update({f"{name}/{k}": v for k, v in case(S4D, **spec).items()})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **arrays)
    print(f"wrote {args.out}: {', '.join(CASES)} ({len(arrays)} arrays)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
