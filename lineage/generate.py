"""``lineage generate``: one clip from an open-weights model (:mod:`lineage.open_weights`) to a WAV file.

Beside ``out.wav`` it writes ``out.json``: the model, checkpoint, prompt and settings, the device and
precision, and the real-time factor (wall time / audio time) - what ``lineage listen --generated``
shows next to the zoo's own models.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

LOOP_FADE = 0.1  # seconds of crossfade at a loop's wrap (at most a quarter of the loop)
EXAMPLES = """\
lineage generate musicgen "a calm piano loop" --seconds 8 -o piano.wav
lineage generate stable_audio_open "rain on a tin roof" --seconds 10 --device cuda -o rain.wav
lineage generate audioldm2 "a dog barks twice" --steps 50 --guidance 3.5 --negative "low quality" -o dog.wav
lineage generate audioldm "a kick drum" --from ./audioldm-s-full-v2    # a downloaded folder
lineage generate stable_audio_open "a funk drum loop" --bpm 120 --bars 4 -o loop.wav   # 8.000 s, a DAW loop"""


def add_command(sub, make) -> None:
    """Add ``generate`` to the ``lineage`` parser (``make`` is the CLI's subcommand factory)."""
    s = make(sub, "generate", "run an open-weights model (Stable Audio Open, AudioLDM 1/2, MusicLDM, "
             "MusicGen) and write a WAV", EXAMPLES, run)
    s.add_argument("model", help="stable_audio_open, audioldm, audioldm2, musicldm or musicgen")
    s.add_argument("prompt", help="what to generate, in words")
    s.add_argument("--seconds", type=float, default=None, help="clip length (default: the model's own)")
    s.add_argument("--seed", type=int, default=0, help="seed of the starting noise or of the sampled tokens")
    s.add_argument("--steps", type=int, default=None, help="denoising steps (default: the model's own)")
    s.add_argument("--guidance", type=float, default=None, help="classifier-free guidance scale "
                   "(default: the model's own)")
    s.add_argument("--negative", dest="negative_prompt", default=None, help="a negative prompt (diffusion only)")
    s.add_argument("--from", dest="source", default=None, help="a Hub id or a saved pipeline folder "
                   "(default: the published checkpoint, from the Hugging Face cache or the Hub)")
    s.add_argument("--token", default=None, help="a Hugging Face token for a gated checkpoint "
                   "(default: $HF_TOKEN or the saved login)")
    s.add_argument("--device", default=None, help="cpu, cuda, mps (default: cuda when there is one)")
    s.add_argument("--bpm", type=float, default=None, help="make a loop at this tempo: exactly BARS bars long, "
                   "crossfaded at the wrap, with tempo and loop points in the WAV (replaces --seconds)")
    s.add_argument("--bars", type=int, default=4, help="the loop's length in bars (with --bpm)")
    s.add_argument("--beats-per-bar", type=int, default=4, help="the meter's numerator (with --bpm)")
    s.add_argument("-o", "--out", default=None, help="the WAV to write (default: runs/generate/MODEL-SEED.wav)")
    s.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args) -> None:
    from lineage import loops, open_weights

    if args.bpm is not None:  # check the tempo before loading gigabytes
        loops.loop_seconds(args.bpm, args.bars, args.beats_per_bar)
    model = open_weights.load(args.model, args.source, args.device, args.token)
    out = Path(args.out or f"runs/generate/{args.model}-{args.seed}.wav")
    seconds, n, fade = args.seconds, None, 0
    if args.bpm is not None:
        n = loops.loop_samples(args.bpm, args.bars, model.rate, args.beats_per_bar)
        fade = min(n // 4, round(LOOP_FADE * model.rate))  # generated past the end, folded over the head
        seconds = (n + fade) / model.rate
    start = time.perf_counter()
    audio, rate = model.generate(args.prompt, seconds, args.seed, args.steps, args.guidance,
                                 args.negative_prompt, progress=not args.quiet)
    wall = time.perf_counter() - start
    if n is not None:
        audio = loops.make_loop(audio, n, fade)
    loop = None if n is None else {"bpm": args.bpm, "bars": args.bars, "beats_per_bar": args.beats_per_bar,
                                   "samples": n, "crossfade_samples": fade}
    record = write(out, audio, rate, model, args.prompt, args.seed, args.steps, args.guidance,
                   args.negative_prompt, args.source, wall, loop)
    if n is not None:
        wrap, typical = loops.seam(audio)
        print(f"loop: {args.bars} bars of {args.beats_per_bar} at {args.bpm:g} bpm = {n} samples, "
              f"{fade}-sample crossfade; wrap jump {wrap:.4f} (the clip's 99th-percentile step {typical:.4f})")
    print(f"wrote {out} ({record['seconds']:.2f} s, {rate} Hz, {audio.shape[0]} channel(s); "
          f"RTF {record['rtf']:.2f} on {record['device']}) and {out.with_suffix('.json')}")


def write(out: Path, audio, rate: int, model, prompt: str, seed: int, steps, guidance, negative_prompt,
          source, wall: float, loop: dict | None = None) -> dict:
    """Write ``out`` (the WAV at the model's own rate and channels; a loop with its smpl/acid chunks) and
    ``out.json`` (what made it)."""
    from lineage import loops
    from lineage.audio import save
    from lineage.files import write_atomic

    seconds = audio.shape[-1] / rate
    record = {"model": model.name, "system": model.system, "checkpoint": str(source or model.hub_id),
              "prompt": prompt, "negative_prompt": negative_prompt, "seconds": seconds, "seed": seed,
              "steps": model.steps if steps is None else steps,
              "guidance": model.guidance if guidance is None else guidance,
              "sample_rate": rate, "channels": int(audio.shape[0]), "device": model.device,
              "dtype": str(_dtype(model)).removeprefix("torch."), "wall_seconds": wall,
              "rtf": wall / seconds, "licence": model.licence, "loop": loop}
    out.parent.mkdir(parents=True, exist_ok=True)
    if loop:
        beats = loop["bars"] * loop["beats_per_bar"]
        loops.write_loop(out, audio, rate, loop["bpm"], beats, (loop["beats_per_bar"], 4))
    else:
        save(out, audio, rate)  # [channels, samples], 16-bit PCM
    write_atomic(out.with_suffix(".json"), json.dumps(record, indent=1) + "\n")
    return record


def _dtype(model):
    pipe = model.pipe
    for part in ([getattr(pipe, "model", None)] + list(getattr(pipe, "components", {}).values())):
        if getattr(part, "dtype", None) is not None and hasattr(part, "parameters"):
            return part.dtype
    return "float32"


def read(wav: str | Path) -> tuple:
    """``(audio [channels, samples], sample_rate, record)`` of a clip ``lineage generate`` wrote."""
    import soundfile as sf

    wav = Path(wav)
    meta = wav.with_suffix(".json")
    if not meta.is_file():
        raise ValueError(f"{meta}: missing; --generated takes WAVs written by `lineage generate`, each with "
                         f"its .json beside it")
    data, rate = sf.read(wav, dtype="float32", always_2d=True)  # [samples, channels]
    return data.T, rate, json.loads(meta.read_text())
