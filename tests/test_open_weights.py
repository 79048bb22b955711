"""The open-weights wrappers (lineage.open_weights, zoo/open_weights), fully offline: every pipeline is
built from tiny random components of the published classes, run through the one interface and through
`lineage generate`, saved and reloaded; each pitfall the wrappers work around is shown to exist in the
bare pipeline and to be handled by the wrapper."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from lineage import open_weights, timeline
from lineage.cli import main
from conftest import require

ROOT = Path(__file__).resolve().parents[1]
NAMES = ["audioldm", "audioldm2", "musicgen", "musicldm", "stable_audio_open"]


@pytest.fixture(autouse=True)
def _libraries():
    require("diffusers"), require("transformers"), require("torchsde")


@pytest.fixture(scope="module")
def tiny_models():
    """One tiny wrapper per model, built once for the module."""
    return {name: open_weights.wrapper(name).tiny(seed=0) for name in NAMES}


def _rms(x):
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def _gen(model, seconds, seed=0, **kw):
    steps = None if model.steps is None else 3  # few denoising steps: the code path, not the sound
    return model.generate("a kick drum", seconds=seconds, seed=seed, steps=steps, progress=False, **kw)


def test_five_wrappers_state_their_facts():
    assert open_weights.names() == NAMES
    chapters = {p.stem for p in (ROOT / "notebooks").glob("*.ipynb")}
    for name in NAMES:
        cls = open_weights.wrapper(name)
        facts = cls.facts()  # the published checkpoint's facts: nothing loaded
        system = timeline.get(facts["system"])
        assert system.year >= 2023 and facts["arxiv"] == system.arxiv
        assert set(facts["chapters"]) <= chapters, f"{name}: names a chapter that does not exist"
        assert facts["hub_id"].count("/") == 1 and facts["licence"] and facts["licence_url"].startswith("https://")
        assert facts["channels"] in (1, 2) and facts["sample_rate"] in (16000, 32000, 44100)
        assert 0 < facts["seconds"] <= facts["max_seconds"]
        assert (facts["steps"] is None) == (name == "musicgen")  # only MusicGen is autoregressive
        assert cls.precision("cpu") == torch.float32 and cls.precision("cuda:0") == torch.float16
    assert open_weights.wrapper("stable_audio_open").gated and not open_weights.wrapper("musicgen").gated
    # every wrapper's system grows from at least one system the zoo implements
    assert all(open_weights.zoo_family(n) for n in NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_contract_seeding_and_a_reload_that_gives_the_same_clip(name, tiny_models, tmp_path):
    model = tiny_models[name]
    seconds = 0.3 if name == "musicgen" else 0.75
    neg = None if name == "musicgen" else "rain"
    audio, rate = _gen(model, seconds, negative_prompt=neg)
    assert rate == model.rate and audio.dtype == np.float32
    assert audio.shape == (model.channels, round(seconds * rate)), f"{name}: {audio.shape}"
    assert np.isfinite(audio).all() and _rms(audio) > 0
    again, _ = _gen(model, seconds, negative_prompt=neg)
    other, _ = _gen(model, seconds, seed=1, negative_prompt=neg)
    np.testing.assert_array_equal(again, audio)  # the same seed, the same clip
    assert np.abs(other - audio).max() > 0.05 * _rms(audio), f"{name}: the seed changes nothing"

    folder = model.save_pretrained(tmp_path / name)
    loaded = open_weights.load(name, folder, device="cpu")
    assert type(loaded) is type(model) and loaded.rate == rate
    reloaded, _ = _gen(loaded, seconds, negative_prompt=neg)
    # the same weights and seed: the same clip, to float rounding (MusicLDM's reloaded CLAP projects its
    # text through another matrix layout and differs in the last bits, 5e-8 of an embedding)
    np.testing.assert_allclose(reloaded, audio, rtol=0, atol=1e-4 * _rms(audio))

    out = tmp_path / f"{name}.wav"
    argv = ["generate", name, "a kick drum", "--from", str(folder), "--seconds", str(seconds), "--quiet",
            "-o", str(out)] + ([] if model.steps is None else ["--steps", "3", "--negative", "rain"])
    assert main(argv) == 0
    import soundfile as sf

    written, written_rate = sf.read(out, always_2d=True)
    record = json.loads(out.with_suffix(".json").read_text())
    assert written_rate == rate and written.shape == (round(seconds * rate), model.channels)
    assert record["model"] == name and record["rtf"] > 0 and record["seconds"] == pytest.approx(seconds)


def test_lengths_and_refusals(tiny_models):
    model = tiny_models["stable_audio_open"]
    for bad, what in [(dict(seconds=model.longest + 1), "seconds must lie"), (dict(seconds=0), "seconds"),
                      (dict(seconds=0.5, steps=0), "steps")]:
        with pytest.raises(open_weights.OpenWeightsError, match=what):
            model.generate("x", progress=False, **bad)
    with pytest.raises(open_weights.OpenWeightsError, match="prompt"):
        model.generate("  ", seconds=0.5, progress=False)
    mg = tiny_models["musicgen"]
    with pytest.raises(open_weights.OpenWeightsError, match="negative prompt"):
        mg.generate("x", seconds=0.2, negative_prompt="y", progress=False)
    with pytest.raises(open_weights.OpenWeightsError, match="steps"):
        mg.generate("x", seconds=0.2, steps=10, progress=False)


def test_stable_audio_needs_torchsde_and_speaks_in_audio_end_in_s(tiny_models, monkeypatch):
    model = tiny_models["stable_audio_open"]
    assert model.length_argument == "audio_end_in_s"
    # the longest clip is the transformer's positions times the autoencoder's hop
    assert model.longest == pytest.approx(256 * 32 / 4000)
    monkeypatch.setitem(sys.modules, "torchsde", None)  # as if it were not installed
    with pytest.raises(open_weights.OpenWeightsError, match="torchsde"):
        model.pipeline_class()


def test_audioldm2_language_model_is_loaded_as_lm_head_model(tiny_models, tmp_path):
    """The published checkpoint declares GPT2Model; loaded as declared, generation crashes."""
    from diffusers import AudioLDM2Pipeline

    folder = tiny_models["audioldm2"].save_pretrained(tmp_path / "l2")
    index = json.loads((folder / "model_index.json").read_text())
    index["language_model"] = ["transformers", "GPT2Model"]  # as the published model_index.json says
    (folder / "model_index.json").write_text(json.dumps(index))
    bare = AudioLDM2Pipeline.from_pretrained(folder, local_files_only=True)
    bare.set_progress_bar_config(disable=True)
    with pytest.raises(AttributeError):
        bare("a kick drum", audio_length_in_s=0.5, num_inference_steps=2)
    model = open_weights.load("audioldm2", folder, device="cpu")
    assert type(model.pipe.language_model).__name__ == "GPT2LMHeadModel"
    with pytest.raises(TypeError, match="same type"):  # a negative prompt of another type than the prompt
        model.pipe("a kick drum", negative_prompt=["rain"], audio_length_in_s=0.5, num_inference_steps=2)
    audio, rate = _gen(model, 0.5, negative_prompt="rain")
    assert audio.shape == (1, rate // 2)


def test_musicldm_text_features_are_repaired(tiny_models):
    """transformers 5's ClapModel.get_text_features returns an output object; the bare pipeline fails."""
    from zoo.open_weights.musicldm import MusicLDM

    pipe = MusicLDM.tiny_pipeline(seed=0)  # the bare pipeline, not wrapped
    pipe.set_progress_bar_config(disable=True)
    with pytest.raises(AttributeError, match="to"):
        pipe("a kick drum", audio_length_in_s=0.5, num_inference_steps=2)
    features = tiny_models["musicldm"].pipe.text_encoder.get_text_features(
        **tiny_models["musicldm"].pipe.tokenizer(["a kick drum"], return_tensors="pt"))
    assert isinstance(features, torch.Tensor) and features.shape == (1, 16)


def test_musicgen_length_arithmetic_and_the_callers_random_state(tiny_models):
    model = tiny_models["musicgen"]
    assert model.codebooks == 4 and model.frame_rate == 125
    for seconds in (0.1, 0.37):
        assert model.decoder_steps(seconds) == math.ceil(seconds * 125) + 3
    ticks = []

    class Count:
        def reset(self, total, unit="step"):
            ticks.append(total)

        def __call__(self, *_):
            ticks.append("tick")

    torch.manual_seed(123)
    before = torch.get_rng_state()
    audio = model._generate("a kick drum", 0.37, 0, None, 3.0, None, Count())
    assert torch.equal(torch.get_rng_state(), before), "generate() moved the caller's random state"
    assert ticks[0] == model.decoder_steps(0.37) and ticks.count("tick") == ticks[0]
    assert audio.shape[-1] >= round(0.37 * model.rate)  # trimmed by Wrapper.generate
    # EnCodec on its own: audio -> [codebooks, frames] -> audio
    clip = np.random.default_rng(0).normal(0, 0.1, (1, 800)).astype(np.float32)
    codes = model.encode(clip)
    assert codes.shape == (4, 800 // 32) and codes.dtype == torch.int64 and int(codes.max()) < 32
    assert model.decode(codes).shape == (1, 800)


def test_deprecated_pipelines_are_pinned():
    import diffusers
    from importlib.metadata import version

    for name in ("audioldm", "musicldm"):
        cls = open_weights.wrapper(name)
        assert ".deprecated." in cls.pipeline_class().__module__ and "deprecated" in cls.notes
    pins = dict(line.split("==") for line in (ROOT / "constraints.txt").read_text().splitlines()
                if "==" in line and not line.startswith("#"))
    assert pins["diffusers"] == version("diffusers") == diffusers.__version__


def test_offline_error_is_one_line_for_every_wrapper(tmp_path):
    """No network, no cache: `lineage generate` ends in one line naming the checkpoint and the download."""
    code = ("import sys\nfrom lineage.cli import main\n"
            f"for name in {NAMES!r}:\n"
            "    print('rc', name, main(['generate', name, 'a kick drum', '--quiet']), file=sys.stderr)\n")
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf"), PYTHONWARNINGS="ignore",
               OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600)
    lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
    for name in NAMES:
        hub_id = open_weights.wrapper(name).hub_id
        assert f"rc {name} 2" in lines, done.stderr[-2000:]
        said = [ln for ln in lines if ln.startswith(f"lineage: error: {name}:")]
        assert len(said) == 1 and hub_id in said[0] and f"hf download {hub_id}" in said[0], said
    assert "Traceback" not in done.stderr


def test_gated_and_broken_sources_are_named(tmp_path):
    import httpx2
    from huggingface_hub.errors import GatedRepoError

    cls = open_weights.wrapper("stable_audio_open")
    response = httpx2.Response(401, request=httpx2.Request("GET", "https://huggingface.co/x"))
    err = cls._explain(GatedRepoError("Access to model is restricted", response=response), cls.hub_id)
    assert "gated" in str(err) and "HF_TOKEN" in str(err) and "\n" not in str(err)
    (tmp_path / "empty").mkdir()
    with pytest.raises(open_weights.OpenWeightsError, match="not a saved StableAudioPipeline folder"):
        open_weights.load("stable_audio_open", tmp_path / "empty")
    with pytest.raises(open_weights.OpenWeightsError, match="no folder"):
        open_weights.load("musicgen", tmp_path / "nowhere")
    with pytest.raises(open_weights.OpenWeightsError, match="unknown open-weights model"):
        open_weights.wrapper("jukebox")


def test_generated_clips_join_the_listening_page(tiny_models, tmp_path):
    import base64
    import io
    import re

    import soundfile as sf

    from lineage import listen

    wav = tmp_path / "sao.wav"
    assert main(["generate", "stable_audio_open", "rain on a tin roof", "--from",
                 str(tiny_models["stable_audio_open"].save_pretrained(tmp_path / "sao")),
                 "--seconds", "0.5", "--steps", "2", "--quiet", "-o", str(wav)]) == 0
    page = listen.write_page([], tmp_path / "page.html", generated=[wav]).read_text()
    assert "Open-weights models" in page and "rain on a tin roof" in page and "Stable Audio Open" in page
    uri = re.search(r"data:audio/wav;base64,([A-Za-z0-9+/=]+)", page).group(1)
    heard, rate = sf.read(io.BytesIO(base64.b64decode(uri)), always_2d=True)
    assert rate == listen.PAGE_RATE and heard.shape == (listen.PAGE_RATE // 2, 2)  # resampled, still stereo
    assert sf.info(wav).samplerate == 4000  # the file keeps the model's own rate
    with pytest.raises(ValueError, match="json"):
        listen.write_page([], tmp_path / "p2.html", generated=[tmp_path / "stray.wav"])


def test_no_remote_code_anywhere():
    """Loading never runs code from a checkpoint: the switch that would allow it appears nowhere."""
    switch = "trust_remote" + "_code"
    found = [str(p.relative_to(ROOT)) for folder in ("lineage", "zoo", "scripts", "benchmarks", "notebooks")
             for p in (ROOT / folder).rglob("*") if p.suffix in (".py", ".ipynb", ".toml")
             and switch in p.read_text(errors="ignore")]
    assert found == []


def test_the_card_states_what_the_wrappers_state():
    card = (ROOT / "zoo" / "open_weights" / "README.md").read_text()
    for name in NAMES:
        cls = open_weights.wrapper(name)
        row = next(ln for ln in card.splitlines() if ln.startswith(f"| `{name}` |"))
        assert cls.hub_id in row and cls.licence.split(" (")[0] in row and f"{cls.sample_rate} Hz" in row
        assert f"{cls.guidance}" in row and (cls.steps is None or f"{cls.steps} / " in row)
        assert ("stereo" in row) == (cls.channels == 2) and ("gated" in row) == cls.gated


def test_a_loop_for_the_daw_is_exact_seamless_and_says_so(tiny_models, tmp_path):
    """`lineage generate --bpm --bars`: bars x beats x 60 / bpm seconds to the sample, tempo and loop
    points in the WAV, no click at the wrap."""
    import soundfile as sf

    from lineage import loops

    folder = tiny_models["stable_audio_open"].save_pretrained(tmp_path / "sao")
    out = tmp_path / "loop.wav"
    # 4 kHz: 1 bar of 3 beats at 190 bpm = 0.947 s = 3,789 samples, fewer than the tiny model's 2.05 s
    assert main(["generate", "stable_audio_open", "a funk drum loop", "--from", str(folder), "--bpm", "190",
                 "--bars", "1", "--beats-per-bar", "3", "--steps", "2", "--quiet", "-o", str(out)]) == 0
    n = loops.loop_samples(190, 1, 4000, beats_per_bar=3)
    audio, rate = sf.read(out, always_2d=True)
    assert (rate, audio.shape) == (4000, (n, 2))
    meta = loops.read_loop(out)
    assert meta["loop_end"] == n - 1 and meta["bpm"] == pytest.approx(190) and meta["beats"] == 3
    assert meta["meter"] == (3, 4)
    wrap, typical = loops.seam(audio.T)
    assert wrap <= typical
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["loop"]["samples"] == n and record["seconds"] == pytest.approx(n / 4000)
    assert main(["generate", "stable_audio_open", "x", "--from", str(folder), "--bpm", "5", "--quiet",
                 "-o", str(tmp_path / "bad.wav")]) == 2
