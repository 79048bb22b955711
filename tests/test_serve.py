"""`lineage serve` (lineage.serve): the real server (uvicorn) on a loopback port, driven over HTTP -
concurrent requests and a bounded queue, a client that hangs up mid-generation, malformed bodies, jobs,
loops, and a zoo entry's shipped weights."""

from __future__ import annotations

import http.client
import io
import json
import socket
import threading
import time

import numpy as np
import pytest
import soundfile as sf

from conftest import require
from lineage import loops, open_weights
from lineage.backend import Backend
from lineage.serve import Limits, Server, build_app


class Loopback:
    """A uvicorn server in a thread on 127.0.0.1, on a free port."""

    def __init__(self, server: Server):
        import uvicorn

        self.server = server
        self.uv = uvicorn.Server(uvicorn.Config(build_app(server), host="127.0.0.1", port=0, log_level="error"))
        self.thread = threading.Thread(target=self.uv.run, daemon=True)
        self.thread.start()
        for _ in range(200):
            if self.uv.started:
                break
            time.sleep(0.05)
        self.host, self.port = self.uv.servers[0].sockets[0].getsockname()[:2]

    def call(self, method: str, path: str, body=None, raw: bytes | None = None, timeout: float = 120):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
        res = conn.getresponse()
        payload = res.read()
        conn.close()
        return res.status, {k.lower(): v for k, v in res.getheaders()}, payload

    def close(self):
        self.uv.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def musicgen():
    """A tiny MusicGen (random weights, 4 kHz) served on loopback: a queue of 1 beyond the running job."""
    require("fastapi"), require("uvicorn"), require("transformers")
    wrapper = open_weights.wrapper("musicgen").tiny(seed=0)
    served = Loopback(Server(Backend.wrapping(wrapper), Limits(queue=1, seconds=2.0)))
    yield served
    served.close()


def _wav(payload: bytes):
    audio, rate = sf.read(io.BytesIO(payload), always_2d=True)
    return audio, rate


def test_it_listens_on_loopback_only_and_answers_health_and_models(musicgen):
    assert musicgen.host == "127.0.0.1"
    status, _, body = musicgen.call("GET", "/health")
    assert status == 200 and json.loads(body)["model"] == "musicgen"
    status, _, body = musicgen.call("GET", "/models")
    assert status == 200 and json.loads(body)[0]["sample_rate"] == 4000


def test_a_request_gets_its_wav_and_the_same_seed_the_same_clip(musicgen):
    req = {"prompt": "a calm piano loop", "seconds": 0.25, "seed": 3}
    status, headers, body = musicgen.call("POST", "/generate", req)
    assert status == 200 and headers["content-type"] == "audio/wav", body[:200]
    audio, rate = _wav(body)
    assert rate == 4000 and audio.shape == (1000, 1) and float(headers["x-rtf"]) > 0
    assert musicgen.call("POST", "/generate", req)[2] == body
    assert musicgen.call("POST", "/generate", {**req, "seed": 4})[2] != body


def test_a_loop_request_is_exact_and_carries_its_tempo(musicgen):
    status, headers, body = musicgen.call("POST", "/generate", {"prompt": "drums", "bpm": 240, "bars": 1})
    assert status == 200, body
    n = loops.loop_samples(240, 1, 4000)  # 1 s
    audio, _ = _wav(body)
    assert audio.shape == (n, 1)
    path_meta = loops.read_loop_bytes(body)
    assert path_meta["bpm"] == 240 and path_meta["loop_end"] == n - 1


BAD = [  # (what, raw body, expected status)
    ("not JSON", b"{prompt: ", 400), ("a list", b"[1, 2]", 400), ("empty", b"", 400),
    ("no prompt", {"seconds": 0.5}, 400), ("blank prompt", {"prompt": "  "}, 400),
    ("unknown field", {"prompt": "x", "temperature": 2}, 400), ("wrong model", {"model": "audioldm", "prompt": "x"}, 404),
    ("seconds a string", {"prompt": "x", "seconds": "long"}, 400), ("too long", {"prompt": "x", "seconds": 600}, 413),
    ("negative seconds", {"prompt": "x", "seconds": -1}, 400), ("NaN seconds", b'{"prompt": "x", "seconds": NaN}', 400),
    ("seed too big", {"prompt": "x", "seed": 2**40}, 400), ("seed a float", {"prompt": "x", "seed": 1.5}, 400),
    ("steps for MusicGen", {"prompt": "x", "steps": 10}, 400), ("guidance huge", {"prompt": "x", "guidance": 1e9}, 400),
    ("prompt too long", {"prompt": "x" * 5000}, 400), ("bpm zero", {"prompt": "x", "bpm": 0}, 400),
    ("bars a string", {"prompt": "x", "bpm": 120, "bars": "four"}, 400), ("boolean seed", {"prompt": "x", "seed": True}, 400),
    ("negative prompt to MusicGen", {"prompt": "x", "seconds": 0.2, "negative_prompt": "y"}, 400),
    ("huge body", b'{"prompt": "' + b"x" * 20000 + b'"}', 413),
]


@pytest.mark.parametrize("what, body, expected", BAD, ids=[b[0] for b in BAD])
def test_a_bad_request_gets_a_4xx_with_one_line_of_json(musicgen, what, body, expected):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    status, headers, payload = musicgen.call("POST", "/generate", raw=raw)
    assert status == expected, (what, status, payload[:300])
    message = json.loads(payload)["error"]
    assert isinstance(message, str) and message and "\n" not in message and "Traceback" not in message


def test_unknown_paths_methods_and_jobs_are_4xx_json(musicgen):
    for method, path, expected in [("GET", "/nowhere", 404), ("GET", "/generate", 405), ("GET", "/jobs/j999", 404),
                                   ("DELETE", "/jobs/j999", 404), ("GET", "/jobs/j999/audio", 404)]:
        status, _, payload = musicgen.call(method, path)
        assert status == expected and "\n" not in json.loads(payload)["error"], (method, path, payload)


def test_the_queue_is_bounded_and_concurrent_requests_all_get_an_answer(musicgen):
    """Six at once with one running and one waiting allowed: some 200, the rest 429 at once, none hang."""
    answers = []

    def one(i):
        start = time.perf_counter()
        status, _, _ = musicgen.call("POST", "/generate", {"prompt": "x", "seconds": 1.5, "seed": i})
        answers.append((status, time.perf_counter() - start))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    statuses = sorted(s for s, _ in answers)
    assert len(answers) == 6 and set(statuses) <= {200, 429} and statuses.count(200) >= 2 and 429 in statuses
    busy = [wall for s, wall in answers if s == 429]
    ok = [wall for s, wall in answers if s == 200]
    assert max(busy) < min(max(ok), 5.0), "a refused request is answered at once, not after the queue"
    assert json.loads(musicgen.call("GET", "/health")[2])["waiting"] == 0


def test_a_client_that_hangs_up_frees_the_worker(musicgen):
    """A long request, abandoned: its job is cancelled at the model's next step and the next client is
    served at once."""
    body = json.dumps({"prompt": "x", "seconds": 2.0, "seed": 1}).encode()
    sock = socket.create_connection((musicgen.host, musicgen.port))
    sock.sendall(b"POST /generate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    server = musicgen.server
    for _ in range(200):  # until the job is running
        jobs = list(server.jobs.values())
        if jobs and jobs[-1].state == "running" and jobs[-1].done_steps > 2:
            break
        time.sleep(0.02)
    job = list(server.jobs.values())[-1]
    sock.close()
    for _ in range(300):
        if job.state != "running":
            break
        time.sleep(0.02)
    assert job.state == "cancelled" and job.done_steps < job.total_steps, (job.state, job.done_steps, job.total_steps)
    status, _, _ = musicgen.call("POST", "/generate", {"prompt": "x", "seconds": 0.1}, timeout=30)
    assert status == 200


def test_a_long_request_as_a_job_with_progress_and_cancellation(musicgen):
    status, _, body = musicgen.call("POST", "/jobs", {"prompt": "x", "seconds": 0.3})
    assert status == 202
    job = json.loads(body)["id"]
    for _ in range(600):
        state = json.loads(musicgen.call("GET", f"/jobs/{job}")[2])
        if state["state"] == "done":
            break
        time.sleep(0.05)
    assert state["state"] == "done" and state["done_steps"] == state["total_steps"] > 0
    status, _, wav = musicgen.call("GET", f"/jobs/{job}/audio")
    assert status == 200 and _wav(wav)[0].shape == (1200, 1)
    status, _, body = musicgen.call("POST", "/jobs", {"prompt": "x", "seconds": 2.0})
    other = json.loads(body)["id"]
    assert musicgen.call("DELETE", f"/jobs/{other}")[0] == 200
    for _ in range(300):
        state = json.loads(musicgen.call("GET", f"/jobs/{other}")[2])["state"]
        if state == "cancelled":
            break
        time.sleep(0.05)
    assert state == "cancelled"
    assert musicgen.call("GET", f"/jobs/{other}/audio")[0] == 409


def test_a_zoo_entrys_shipped_weights_are_served_with_labels():
    require("fastapi"), require("uvicorn")
    served = Loopback(Server(Backend("ddsp"), Limits(seconds=1.0)))
    try:
        models = json.loads(served.call("GET", "/models")[2])[0]
        assert models["kind"] == "zoo" and "cond" in models["takes"]
        status, _, body = served.call("POST", "/generate", {"seconds": 0.25, "seed": 0})
        audio, rate = _wav(body)
        assert status == 200 and audio.shape[0] == round(0.25 * rate) and np.abs(audio).max() > 0
        assert served.call("POST", "/generate", {"seconds": 0.25, "cond": {"pitch": 60}})[0] == 200
        status, _, body = served.call("POST", "/generate", {"seconds": 0.25, "cond": {"nonsense": 1}})
        assert status == 400 and "cond.nonsense" in json.loads(body)["error"]
        status, _, body = served.call("POST", "/generate", {"prompt": "a flute"})
        assert status == 400 and "prompt" in json.loads(body)["error"]
    finally:
        served.close()
