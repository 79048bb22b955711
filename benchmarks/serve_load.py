"""What one `lineage serve` process delivers: requests per minute and latency percentiles for zoo models'
shipped weights on this machine, under a bounded load loop against loopback.

    python benchmarks/serve_load.py                              # gansynth and ddsp, 1 s clips, 2 minutes each
    python benchmarks/serve_load.py --models wavegan --clients 4 --seconds 0.5 --duration 30

For each model: a real server (uvicorn, 127.0.0.1, the queue ``--queue`` deep) and ``--clients`` client
threads that each send a request, wait for its answer, and send the next, for ``--duration`` seconds.
Latency is from sending a request to holding its WAV; a request the full queue refuses (429) counts as
refused, not as served. The rows: requests served per minute, audio seconds served per wall second,
latency p50/p90/p99, refused. Writes ``benchmarks/results/serve-load.{json,md}``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results"


def load(model: str, clients: int, seconds: float, duration: float, queue: int) -> dict:
    import uvicorn

    from lineage.backend import Backend
    from lineage.serve import Limits, Server, build_app

    server = Server(Backend(model, device="cpu"), Limits(queue=queue, seconds=max(seconds, 1.0)))
    uv = uvicorn.Server(uvicorn.Config(build_app(server), host="127.0.0.1", port=0, log_level="error"))
    threading.Thread(target=uv.run, daemon=True).start()
    while not uv.started:
        time.sleep(0.05)
    port = uv.servers[0].sockets[0].getsockname()[1]
    latencies, refused, stop = [], [0], time.perf_counter() + duration
    body = json.dumps({"seconds": seconds}).encode()

    def client(i: int) -> None:
        seed = i * 100_000
        while time.perf_counter() < stop:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
            start = time.perf_counter()
            conn.request("POST", "/generate", body=body.replace(b"}", f', "seed": {seed}}}'.encode()))
            res = conn.getresponse()
            res.read()
            conn.close()
            seed += 1
            if res.status == 200:
                latencies.append(time.perf_counter() - start)
            elif res.status == 429:
                refused[0] += 1
                time.sleep(0.05)
            else:
                raise RuntimeError(f"{model}: HTTP {res.status}")

    began = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - began  # the last answers arrive after `duration`
    uv.should_exit = True
    lat = np.array(latencies)
    return {"model": model, "clients": clients, "clip_seconds": seconds, "wall_seconds": wall,
            "served": len(lat), "refused": refused[0], "per_minute": 60 * len(lat) / wall,
            "audio_seconds_per_second": len(lat) * seconds / wall,
            **{f"p{q}": float(np.percentile(lat, q)) for q in (50, 90, 99)}}


def markdown(r: dict) -> str:
    lines = ["| model | clients | clip | served / min | audio s / s | p50 | p90 | p99 | refused (429) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in r["rows"]:
        lines.append(f"| {row['model']} | {row['clients']} | {row['clip_seconds']:g} s | {row['per_minute']:.1f} | "
                     f"{row['audio_seconds_per_second']:.2f} | {row['p50']:.2f} s | {row['p90']:.2f} s | "
                     f"{row['p99']:.2f} s | {row['refused']} |")
    m = r["machine"]
    lines.append(f"\nOne server process, one worker, queue {r['queue']}; {r['duration']:g} s of load per model; "
                 f"latency from request to WAV. {m['cpu']}, {m['torch_threads']} torch thread(s), CPU.")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=["gansynth", "ddsp"], help="zoo entries with shipped weights")
    p.add_argument("--clients", type=int, default=3, help="client threads, each one request at a time")
    p.add_argument("--seconds", type=float, default=1.0, help="length of each requested clip")
    p.add_argument("--duration", type=float, default=120.0, help="seconds of load per model")
    p.add_argument("--queue", type=int, default=4, help="the server's queue")
    p.add_argument("--out", type=Path, default=OUT, help="folder of the two files (default benchmarks/results)")
    args = p.parse_args(argv)
    import torch

    from lineage.eval.speed import machine
    from lineage.files import write_result

    torch.set_num_threads(1)
    rows = [load(m, args.clients, args.seconds, args.duration, args.queue) for m in args.models]
    r = {"rows": rows, "queue": args.queue, "duration": args.duration, "machine": machine()}
    write_result(args.out, "serve-load", r, markdown(r))
    print(markdown(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
