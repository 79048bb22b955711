"""Fuzzing with hypothesis: any value of any config field, and any mangled audio file, ends either in
success or in the project's own one-line error - never a traceback, never a non-finite sample.

* configs: every field of every entry's tiny preset (``model``, ``data``, ``train``) is set, one at a time
  as ``--set`` would, to values of every kind (wrong types, negative, huge, NaN and infinities, strings,
  lists, tables). Refused values raise ``ConfigError`` in one line naming the key; accepted ones must
  build the model, or be refused in one line by the entry when it is built;
* audio: a valid WAV is truncated, overwritten with random bytes, given a lying header (rate, channels,
  sizes) or non-finite and absurd samples, and read through :func:`lineage.audio.load` as every data
  set reads it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from lineage import audio as A  # noqa: E402
from lineage import registry  # noqa: E402
from lineage.config import ConfigError, DataConfig, TrainConfig  # noqa: E402

FUZZ = settings(max_examples=50, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

ENTRIES = {e.name: e for e in registry.entries()}
# every entry's model fields; the data and train fields, which every entry shares, once (with WaveNet's preset)
FIELDS = sorted([(name, "model", f.name) for name, e in ENTRIES.items() for f in dataclasses.fields(e.Config)] +
                [("wavenet", section, f.name) for section, cls in (("data", DataConfig), ("train", TrainConfig))
                 for f in dataclasses.fields(cls)])

numbers = st.one_of(st.integers(-10**12, 10**12), st.sampled_from([0, -1, 1, 2**31, 2**62]),
                    st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=False),
                    st.sampled_from([math.nan, math.inf, -math.inf, 1e300, -0.0, 1e-300]))
scalars = st.one_of(numbers, st.booleans(), st.text(max_size=12))
values = st.one_of(scalars, st.lists(scalars, max_size=5), st.lists(st.lists(numbers, max_size=3), max_size=3),
                   st.dictionaries(st.text(max_size=6), st.lists(st.text(max_size=6), max_size=3), max_size=2))


@contextlib.contextmanager
def memory_ceiling(extra=4 * 2**30):
    """At most ``extra`` more address space than the process has now: a value that asks for more meets
    the failure it would meet on a machine that small (the project's one-line error, asserted below)
    instead of exhausting this one."""
    import resource

    with open("/proc/self/status") as f:
        now = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
    before = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (now + extra, before[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, before)


def toml(value) -> str:
    """``value`` as the TOML literal ``--set`` reads."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml(v) for v in value) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {toml(v)}" for k, v in value.items()) + "}"


def one_line(err: BaseException, key: str) -> None:
    text = str(err)
    assert "\n" not in text, f"a multi-line error for {key}: {text[:300]}"
    assert key in text, f"the error does not name {key}: {text[:300]}"


@pytest.mark.parametrize("entry, section, key", FIELDS, ids=[f"{e}-{s}.{k}" for e, s, k in FIELDS])
@FUZZ
@given(value=values)
def test_any_value_of_any_field_is_taken_or_refused_in_one_line(entry, section, key, value):
    import torch

    dotted = f"{section}.{key}"
    try:
        cfg = ENTRIES[entry].config("tiny", None, [f"{dotted}={toml(value)}"])
    except ConfigError as err:
        one_line(err, dotted)
        return
    if section != "model":
        return  # data and training values act when a run starts; their bounds are the config's own
    torch.manual_seed(0)
    try:
        with memory_ceiling():
            ENTRIES[entry].build(cfg)
    except (ConfigError, ValueError) as err:  # the entry's own check, or a model too large for memory
        one_line(err, "model")


def wav_bytes(seconds=0.25, sr=8000, channels=1) -> bytes:
    import io

    import soundfile as sf

    t = np.arange(int(seconds * sr)) / sr
    audio = 0.5 * np.sin(2 * np.pi * 440 * t)[:, None].repeat(channels, axis=1)
    buf = io.BytesIO()
    sf.write(buf, audio.astype(np.float32), sr, format="WAV", subtype="FLOAT")
    return buf.getvalue()


VALID = wav_bytes()

mutations = st.one_of(
    st.integers(0, len(VALID)).map(lambda n: ("truncate", n)),
    st.tuples(st.just("bytes"), st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.integers(0, 255)),
                                         min_size=1, max_size=20)),
    st.tuples(st.just("header"), st.sampled_from([22, 24, 28, 32, 34, 40, 4]),  # channels, rate, sizes
              st.integers(0, 2**32 - 1)),
    st.tuples(st.just("samples"), st.sampled_from([math.nan, math.inf, -math.inf, 1e30, 3.0e38]),
              st.integers(0, 1999)),
    st.binary(max_size=300).map(lambda b: ("random", b)),
)


def mutate(m) -> bytes:
    data = bytearray(VALID)
    kind = m[0]
    if kind == "truncate":
        return bytes(data[: m[1]])
    if kind == "bytes":
        for i, b in m[1]:
            data[i] = b
    elif kind == "header":
        width = 2 if m[1] in (22, 34) else 4
        data[m[1]: m[1] + width] = (m[2] % (1 << (8 * width))).to_bytes(width, "little")
    elif kind == "samples":
        start = len(VALID) - 4 * 2000 + 4 * m[2]
        data[start: start + 4] = np.float32(m[1]).tobytes()
    else:
        return m[1]
    return bytes(data)


@FUZZ
@given(m=mutations)
def test_a_mangled_audio_file_loads_finite_or_is_refused_in_one_line(tmp_path, m):
    path = tmp_path / "clip.wav"
    path.write_bytes(mutate(m))
    try:
        audio = A.load(path, sample_rate=16000, mono=True, seconds=1.0)
    except ValueError as err:
        one_line(err, str(path))
        return
    assert np.isfinite(audio).all() and np.abs(audio).max(initial=0) <= A.MAX_PEAK
