"""``lineage serve``: one model behind an HTTP endpoint, on FastAPI and uvicorn. What serving adds to
``model.sample()``:

* **warm weights** - the model is loaded once, when the process starts, not per request;
* **one generation at a time** - a single worker thread owns the model (two CPU cores, or one GPU, do not
  share well); requests wait in a **bounded queue**, and one beyond it is answered ``429`` at once
  instead of hanging;
* **limits** - length, steps, prompt and body size are checked before any work, and every refusal is a
  ``4xx`` with a one-line JSON message (``{"error": "..."}``), never a traceback;
* **cancellation** - a client that hangs up, or ``DELETE /jobs/ID``, frees the worker at the model's next
  step (a denoising or decoding step; a zoo entry's ``sample`` has none, so it finishes its clip first);
* **loopback** - it binds to 127.0.0.1 unless told otherwise.

Endpoints: ``GET /health``, ``GET /models``, ``POST /generate`` (the WAV in the response), and for long
requests ``POST /jobs`` -> ``{"id"}``, ``GET /jobs/ID`` (state and progress), ``GET /jobs/ID/audio``,
``DELETE /jobs/ID``. A request body: ``{"model", "prompt" or "cond", "seconds", "seed", "steps",
"guidance", "negative_prompt", "bpm", "bars", "beats_per_bar"}``; with ``bpm`` the answer is a loop of
exactly ``bars`` bars (:mod:`lineage.loops`).
"""

import asyncio
import io
import itertools
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from lineage.backend import Backend, Refused

MAX_BODY = 16_384  # bytes of JSON a request may send


class Cancelled(Exception):
    """Raised inside a generation whose client is gone."""


@dataclass
class Limits:
    seconds: float = 30.0  # the longest clip (and never longer than the model makes)
    steps: int = 250
    prompt_chars: int = 500
    queue: int = 4  # requests waiting beyond the one being generated


@dataclass
class Job:
    id: str
    request: dict
    state: str = "queued"  # queued, running, done, failed, cancelled
    done_steps: int = 0
    total_steps: int = 0
    error: str = ""
    wav: bytes = b""
    headers: dict = field(default_factory=dict)
    cancel: threading.Event = field(default_factory=threading.Event)
    future: object = None  # the worker's Future


def check(req: dict, backend: Backend, limits: Limits) -> dict:
    """The request with its defaults, or :class:`Refused` naming the first bad field."""
    from lineage import loops

    known = {"model", "prompt", "cond", "seconds", "seed", "steps", "guidance", "negative_prompt", "bpm",
             "bars", "beats_per_bar"}
    if not isinstance(req, dict):
        raise Refused("body: must be a JSON object")
    extra = sorted(set(req) - known)
    if extra:
        raise Refused(f"{extra[0]}: unknown field; known: {sorted(known)}")
    if req.get("model") not in (None, backend.name):
        raise Refused(f"model: {req['model']!r} is not served here; this server runs {backend.name!r}", 404)
    for key in set(req) - {"model", "bpm", "bars", "beats_per_bar"}:
        if key not in backend.takes and req[key] is not None:
            raise Refused(f"{key}: {backend.name} takes {backend.takes}")
    out = {"seed": 0, **{k: v for k, v in req.items() if v is not None}}
    kinds = {"prompt": str, "negative_prompt": str, "cond": dict, "seconds": (int, float), "seed": int,
             "steps": int, "guidance": (int, float), "bpm": (int, float), "bars": int, "beats_per_bar": int}
    for key, kind in kinds.items():
        if key in out and (not isinstance(out[key], kind) or isinstance(out[key], bool)):
            raise Refused(f"{key}: must be {getattr(kind, '__name__', 'a number')}, got {out[key]!r}")
    if backend.kind == "open-weights" and not str(out.get("prompt", "")).strip():
        raise Refused("prompt: required, a non-empty string")
    for key in ("prompt", "negative_prompt"):
        if len(out.get(key, "")) > limits.prompt_chars:
            raise Refused(f"{key}: at most {limits.prompt_chars} characters, got {len(out[key])}")
    longest = min(limits.seconds, backend.longest)
    if "bpm" in out:
        try:
            n = loops.loop_samples(out["bpm"], out.get("bars", 4), backend.rate, out.get("beats_per_bar", 4))
        except ValueError as err:
            raise Refused(f"loop: {err}") from None
        out["loop"] = (n, min(n // 4, round(0.1 * backend.rate)))
        out["seconds"] = sum(out["loop"]) / backend.rate  # the loop and the tail folded over its head
    out.setdefault("seconds", min(4.0, longest))
    if not (0 < out["seconds"] <= longest):
        raise Refused(f"seconds: must lie in (0, {longest:g}] here, got {out['seconds']:g}", 413 if
                      out["seconds"] > longest else 400)
    if not 0 <= out["seed"] < 2**31:
        raise Refused(f"seed: must lie in [0, 2^31), got {out['seed']}")
    if "steps" in out and not 1 <= out["steps"] <= limits.steps:
        raise Refused(f"steps: must lie in [1, {limits.steps}], got {out['steps']}")
    if "guidance" in out and not 0 <= out["guidance"] <= 30:
        raise Refused(f"guidance: must lie in [0, 30], got {out['guidance']:g}")
    return out


def wav_bytes(audio: np.ndarray, rate: int, req: dict) -> bytes:
    """The answer's WAV: 16-bit PCM; a loop (``bpm`` asked) crossfaded and with its smpl/acid chunks."""
    import soundfile as sf

    from lineage import loops

    if "loop" in req:
        n, fade = req["loop"]
        beats_per_bar = req.get("beats_per_bar", 4)
        return loops.loop_wav(loops.make_loop(audio, n, fade), rate, req["bpm"], req.get("bars", 4) * beats_per_bar,
                              (beats_per_bar, 4))
    buf = io.BytesIO()
    sf.write(buf, np.clip(audio, -1, 1).T, rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


class Server:
    """The queue and the one worker: jobs run in order on a single thread that owns the model."""

    def __init__(self, backend: Backend, limits: Limits | None = None):
        self.backend, self.limits = backend, limits or Limits()
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="generate")
        self.jobs: dict[str, Job] = {}
        self.waiting = 0  # jobs queued or running
        self.lock = threading.Lock()
        self.ids = itertools.count(1)

    def submit(self, body) -> Job:
        req = check(body, self.backend, self.limits)
        with self.lock:
            if self.waiting > self.limits.queue:  # one running and `queue` waiting
                raise Refused(f"busy: {self.waiting} requests ahead; retry later", 429)
            self.waiting += 1
            job = Job(f"j{next(self.ids)}", req)
            self.jobs[job.id] = job
            for old in [k for k, j in self.jobs.items() if j.state in ("done", "failed", "cancelled")][:-32]:
                del self.jobs[old]  # keep the last 32 finished jobs
        job.future = self.pool.submit(self._run, job)
        return job

    def _run(self, job: Job) -> None:
        try:
            if job.cancel.is_set():
                raise Cancelled
            job.state = "running"

            def tick(done=None, total=None):
                if job.cancel.is_set():
                    raise Cancelled  # unwinds the pipeline at its next step
                job.done_steps, job.total_steps = (done, total) if done is not None else (job.done_steps + 1, 0)

            start = time.perf_counter()
            audio, rate = self.backend.generate(job.request, tick)
            wall = time.perf_counter() - start
            job.wav = wav_bytes(audio, rate, job.request)
            seconds = (job.request["loop"][0] if "loop" in job.request else audio.shape[-1]) / rate
            job.headers = {"X-Sample-Rate": str(rate), "X-Seconds": f"{seconds:.6f}", "X-RTF": f"{wall / seconds:.4f}"}
            job.state = "done"
        except Cancelled:
            job.state = "cancelled"
        except ValueError as err:  # the model's own one-line refusals (a label it does not know, ...)
            job.state, job.error = "failed", str(err).splitlines()[0] if str(err) else type(err).__name__
        except Exception as err:  # noqa: BLE001 - a bug: one line to the client, the traceback to the log
            import traceback

            traceback.print_exc()
            job.state, job.error = "failed", f"internal error ({type(err).__name__})"
        finally:
            with self.lock:
                self.waiting -= 1


def build_app(server: Server):
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse, Response

    app = FastAPI(title="audio-lineage", docs_url=None, redoc_url=None)

    def refuse(status: int, message: str):
        return JSONResponse({"error": message}, status_code=status)

    async def body_of(request: Request):
        raw = await request.body()
        if len(raw) > MAX_BODY:
            raise Refused(f"body: at most {MAX_BODY} bytes, got {len(raw)}", 413)
        import json

        try:
            return json.loads(raw or b"null")
        except ValueError as err:
            raise Refused(f"body: not JSON ({err})") from None

    @app.exception_handler(Refused)
    async def refused(request, err: Refused):
        return refuse(err.status, str(err))

    @app.exception_handler(Exception)
    async def bug(request, err: Exception):  # the traceback stays in the server's log
        import traceback

        traceback.print_exception(err)
        return refuse(500, f"internal error ({type(err).__name__})")

    @app.exception_handler(404)
    async def not_found(request, err):
        return refuse(404, f"{request.url.path}: no such endpoint; see GET /models, POST /generate, POST /jobs")

    @app.exception_handler(405)
    async def wrong_method(request, err):
        return refuse(405, f"{request.method} {request.url.path}: not allowed here")

    @app.get("/health")
    async def health():
        return {"status": "ok", "model": server.backend.name, "waiting": server.waiting,
                "queue": server.limits.queue}

    @app.get("/models")
    async def models():
        return [server.backend.describe()]

    @app.post("/generate")
    async def generate(request: Request):
        job = server.submit(await body_of(request))
        while not job.future.done():  # wait for the worker, and notice a client that hangs up
            if await request.is_disconnected():
                job.cancel.set()
                break
            await asyncio.sleep(0.05)
        await asyncio.wrap_future(job.future)
        if job.state == "failed":
            return refuse(500 if job.error.startswith("internal error") else 400, job.error)
        if job.state != "done":
            return refuse(499, "cancelled: the client went away")
        return Response(job.wav, media_type="audio/wav", headers=job.headers)

    @app.post("/jobs", status_code=202)
    async def start(request: Request):
        job = server.submit(await body_of(request))
        return {"id": job.id, "state": job.state}

    def job_of(job_id: str) -> Job:
        if job_id not in server.jobs:
            raise Refused(f"jobs/{job_id}: no such job (finished jobs are kept for a while, then dropped)", 404)
        return server.jobs[job_id]

    @app.get("/jobs/{job_id}")
    async def status(job_id: str):
        job = job_of(job_id)
        return {"id": job.id, "state": job.state, "done_steps": job.done_steps, "total_steps": job.total_steps,
                "error": job.error or None}

    @app.get("/jobs/{job_id}/audio")
    async def audio(job_id: str):
        job = job_of(job_id)
        if job.state != "done":
            raise Refused(f"jobs/{job_id}: {job.state}, no audio" + (f" ({job.error})" if job.error else ""), 409)
        return Response(job.wav, media_type="audio/wav", headers=job.headers)

    @app.delete("/jobs/{job_id}")
    async def cancel(job_id: str):
        job = job_of(job_id)
        job.cancel.set()
        return {"id": job.id, "state": "cancelling" if job.state in ("queued", "running") else job.state}

    return app


def add_command(sub, make) -> None:
    s = make(sub, "serve", "serve one model over HTTP: warm weights, a bounded queue, limits, loopback only",
             "lineage serve codec_lm                       # shipped weights, http://127.0.0.1:8000\n"
             "lineage serve musicgen --device cuda --port 8001\n"
             "curl -X POST 127.0.0.1:8000/generate -d '{\"prompt\": \"a calm piano\", \"seconds\": 4}' -o out.wav",
             main)
    s.add_argument("model", help="a zoo entry (its shipped weights), a run folder, or an open-weights model")
    s.add_argument("--from", dest="source", default=None, help="a run folder, Hub id or saved pipeline to load")
    s.add_argument("--host", default="127.0.0.1", help="the address to bind (default: loopback only)")
    s.add_argument("--port", type=int, default=8000, help="the port to listen on")
    s.add_argument("--queue", type=int, default=4, help="requests that may wait beyond the running one")
    s.add_argument("--max-seconds", type=float, default=30.0, help="the longest clip a request may ask for")
    s.add_argument("--device", default=None, help="cpu, cuda, mps (default: cuda when there is one)")


def main(args) -> None:
    import uvicorn

    backend = Backend(args.model, args.source, args.device)
    server = Server(backend, Limits(seconds=args.max_seconds, queue=args.queue))
    print(f"serving {backend.name} ({backend.kind}, {backend.rate} Hz) on http://{args.host}:{args.port}")
    uvicorn.run(build_app(server), host=args.host, port=args.port, log_level="warning")
