"""Loops for the DAW (lineage.loops): the length exact to the sample, no click at the wrap, and loop
metadata a DAW reads (smpl and acid chunks) written and read back."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from lineage import loops


def test_the_length_is_bars_times_beats_at_the_tempo_to_the_sample():
    assert loops.loop_seconds(120, 4) == 8.0
    assert loops.loop_samples(120, 4, 44100) == 352_800
    assert loops.loop_samples(97, 3, 32000) == round(3 * 4 * 60 / 97 * 32000) == 237_526
    assert loops.loop_samples(140, 2, 16000, beats_per_bar=3) == round(2 * 3 * 60 / 140 * 16000)
    for bad, what in [(dict(bpm=0, bars=4), "bpm"), (dict(bpm=120, bars=0), "bars"),
                      (dict(bpm=120, bars=1.5), "bars"), (dict(bpm=120, bars=4, beats_per_bar=0), "beats")]:
        with pytest.raises(ValueError, match=what):
            loops.loop_seconds(**bad)


def _tone(n, rate=8000, seed=0):
    """A chord of partials whose periods do not divide the loop, plus a little noise: a clip whose end
    does not meet its start."""
    t = np.arange(n) / rate
    rng = np.random.default_rng(seed)
    x = sum(np.sin(2 * np.pi * f * t + rng.uniform(0, 6)) for f in (110.3, 277.1, 433.7)) / 3
    return (x + 0.01 * rng.normal(size=n)).astype(np.float32)[None]


def test_the_crossfade_removes_the_click_a_hard_cut_leaves():
    rate, n, fade = 8000, loops.loop_samples(120, 1, 8000), 400
    audio = _tone(n + fade, rate)
    cut, typical = loops.seam(audio[:, :n])
    assert cut > 2 * typical, "the test clip should click when simply cut"
    loop = loops.make_loop(audio, n, fade)
    assert loop.shape == (1, n)
    wrap, typical = loops.seam(loop)
    assert wrap <= typical, f"the wrap jumps {wrap:.4f}, the clip's typical jump is {typical:.4f}"
    np.testing.assert_array_equal(loop[:, fade:], audio[:, fade:n])  # only the head is touched
    stereo = loops.make_loop(np.concatenate([audio, _tone(n + fade, rate, seed=1)]), n, fade)
    assert stereo.shape == (2, n) and loops.seam(stereo)[0] <= loops.seam(stereo)[1]


def test_equal_power_keeps_unrelated_sounds_at_one_loudness():
    rng = np.random.default_rng(0)
    n, fade = 20_000, 8000
    audio = rng.normal(0, 0.1, (1, n + fade)).astype(np.float32)  # head and tail unrelated
    loop = loops.make_loop(audio, n, fade)
    middle = loop[0, fade // 2 - 1000:fade // 2 + 1000]  # where a linear fade would dip by 3 dB
    assert abs(np.sqrt(np.mean(middle ** 2)) / 0.1 - 1) < 0.1


def test_bad_crossfades_are_one_line_errors():
    with pytest.raises(ValueError, match="needs 1100 samples"):
        loops.make_loop(np.zeros((1, 1000)), 1000, 100)
    with pytest.raises(ValueError, match="crossfade must be"):
        loops.make_loop(np.zeros((1, 3000)), 1000, 0)


def test_the_wav_says_loop_tempo_and_meter_and_reads_back(tmp_path):
    rate, n = 8000, loops.loop_samples(96, 2, 8000, beats_per_bar=3)
    loop = loops.make_loop(np.concatenate([_tone(n + 200, rate), _tone(n + 200, rate, seed=3)]), n, 200)
    path = loops.write_loop(tmp_path / "loop.wav", loop, rate, bpm=96, beats=6, meter=(3, 4))
    info = sf.info(path)
    assert info.frames == n and info.samplerate == rate and info.channels == 2  # still a plain WAV
    meta = loops.read_loop(path)
    assert meta["loop_start"] == 0 and meta["loop_end"] == n - 1 and meta["loop_type"] == 0
    assert meta["bpm"] == 96 and meta["beats"] == 6 and meta["meter"] == (3, 4) and not meta["one_shot"]
    assert meta["root_note"] == 60
    assert loops.read_loop(_plain(tmp_path)) == {}  # a WAV without the chunks says nothing
    (tmp_path / "x.wav").write_bytes(b"not a wav")
    with pytest.raises(ValueError, match="not a WAV"):
        loops.read_loop(tmp_path / "x.wav")


def _plain(tmp_path):
    sf.write(tmp_path / "plain.wav", np.zeros(100), 8000)
    return tmp_path / "plain.wav"


def _midi(path):
    """Two bars: 120 bpm, then 90 bpm from beat 4. C4 for 2 beats at beat 0, E4 for 1 beat at beat 2,
    G4 for 2 beats at beat 4 (2.0 s: four beats at 120 bpm)."""
    import mido

    ticks = 480
    track = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(120), time=0)])
    events = [(0, "on", 60), (2, "off", 60), (2, "on", 64), (3, "off", 64), (4, "tempo", 90), (4, "on", 67),
              (6, "off", 67)]
    now = 0
    for beat, kind, value in events:
        dt, now = beat * ticks - now, beat * ticks
        if kind == "tempo":
            track.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(value), time=dt))
        else:
            track.append(mido.Message(f"note_{kind}", note=value, velocity=90 if kind == "on" else 0, time=dt))
    mido.MidiFile(ticks_per_beat=ticks, tracks=[track]).save(path)
    return path


def test_midi_notes_trigger_loops_where_the_tempo_map_puts_them(tmp_path):
    from lineage.backend import Backend

    notes = loops.midi_notes(_midi(tmp_path / "tune.mid"))
    assert [n["pitch"] for n in notes] == [60, 64, 67]
    assert [round(n["start"], 6) for n in notes] == [0.0, 1.0, 2.0] and [n["bpm"] for n in notes] == [120, 120, 90]
    backend = Backend("ddsp")  # shipped weights, conditioned on pitch
    record = loops.render_midi(backend, tmp_path / "tune.mid", tmp_path / "out")
    rate = backend.rate
    assert [n["beats"] for n in record["notes"]] == [2, 1, 2]
    expected = [round(2 * 0.5 * rate), round(1 * 0.5 * rate), round(2 * 60 / 90 * rate)]
    for note, n in zip(record["notes"], expected):
        audio, file_rate = sf.read(tmp_path / "out" / note["file"], always_2d=True)
        meta = loops.read_loop(tmp_path / "out" / note["file"])
        assert file_rate == rate and audio.shape[0] == n == note["samples"] and meta["loop_end"] == n - 1
        assert meta["root_note"] == note["pitch"] and meta["bpm"] == pytest.approx(note["bpm"])
        assert note["start_sample"] == round(note["start"] * rate)
    render, _ = sf.read(tmp_path / "out" / "render.wav", always_2d=True)
    assert render.shape[0] == round(2.0 * rate) + expected[2]  # the last loop ends the render
    third = record["notes"][2]
    clip, _ = sf.read(tmp_path / "out" / third["file"], always_2d=True)
    placed = render[third["start_sample"]:third["start_sample"] + len(clip)] / record["scaled_by"]
    assert np.abs(placed - clip).max() < 2e-3  # placed to the sample (16-bit rounding apart)
    with pytest.raises(ValueError, match="not a readable MIDI"):
        loops.midi_notes(tmp_path / "missing.mid")


def test_lineage_loops_refuses_a_missing_midi_file_in_one_line(tmp_path, capsys):
    from lineage.cli import main

    assert main(["loops", "ddsp", "--midi", str(tmp_path / "missing.mid"), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lineage: error:") and "missing.mid" in err and err.count("\n") == 1
