"""Captions: the templates that give `notes` and `drums` text, the word tokenizer, and captions travelling
through a clip set as the label ``text``."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lineage import data as D
from lineage.config import DataConfig
from lineage.data import soundfont as S
from lineage.data import text as T


def test_the_templates_say_what_the_labels_say():
    assert S.drum_caption({"drum": "hat_open", "key": 46, "velocity": 120}) == "a very loud open hi-hat"
    assert S.drum_caption({"drum": "tom", "key": 41, "velocity": 60}) == "a soft low tom"
    assert S.drum_caption({"drum": "kick", "key": 36, "velocity": 99}) == "a loud kick drum"
    assert S.note_caption({"instrument": "Flute", "pitch": 72, "velocity": 50}) == "a soft flute note, C5"
    assert S.note_caption({"instrument": "Electric Bass (finger)", "pitch": 40, "velocity": 127}) \
        == "a very loud electric bass finger note, E2"
    from lineage.data.speech import digit_caption

    assert digit_caption({"digit": "seven", "speaker": "en-gb+f3"}) == "the word seven, in a female voice"
    assert digit_caption({"digit": "zero", "speaker": "en-us+whisper"}) == "the word zero, in a whispering voice"
    assert [S.dynamic(v) for v in (25, 50, 75, 100, 127)] == ["very soft", "soft", "medium", "loud", "very loud"]
    assert S.note_name(60) == "C4" and S.note_name(69) == "A4" and S.note_name(61) == "C#4"


def test_every_drum_and_instrument_has_words():
    assert set(S.DRUM_WORDS) == set(S.DRUMS)
    for drum, keys in S.DRUMS.items():
        for key in keys:
            assert S.drum_caption({"drum": drum, "key": key, "velocity": 80}).endswith(S.DRUM_WORDS[drum])
    for name in S.instrument_names():
        words = name.lower().replace("(", "").replace(")", "")
        assert S.note_caption({"instrument": name, "pitch": 60, "velocity": 100}) == f"a loud {words} note, C4"


def test_the_tokenizer_round_trips_and_its_vocabulary_does_not_depend_on_order():
    captions = ["a loud open hi-hat", "a soft flute note, C#5", "a medium snare drum"]
    vocab = T.vocabulary(captions)
    assert vocab[:2] == [T.PAD, T.UNK] and vocab == T.vocabulary(captions[::-1])
    assert vocab[2:] == sorted(vocab[2:])
    tokens = T.encode(captions, vocab)
    assert tokens.dtype == np.int64 and tokens.shape == (3, 6)  # "a soft flute note , c#5": six words
    assert (tokens[2, 4:] == 0).all()  # padding after a shorter caption
    assert [T.decode(r, vocab) for r in tokens] == [c.lower() for c in captions]
    assert T.encode(["a quiet gong"], vocab)[0].tolist() == [vocab.index("a"), 1, 1]  # unknown words
    assert T.encode(captions, vocab, length=2).shape == (3, 2)


@pytest.mark.parametrize("name", ["drums", "notes"])
def test_captions_reach_the_clip_set_as_the_label_text(name, tmp_path, monkeypatch):
    root = tmp_path / "data"
    D.build(name, size=6, root=root)
    clips = D.load(DataConfig(name=name, size=6), root=root)
    template = D.recipe(name).caption
    rows = [json.loads(line) for line in (root / name / "manifest.jsonl").read_text().splitlines()]
    assert clips.texts == [template(r) for r in rows]
    assert clips.labels["text"].shape[0] == 6 and clips.labels["text"].dtype == np.int64
    assert [clips.caption(clips.labels, i) for i in range(6)] == [t.lower() for t in clips.texts]
    monkeypatch.setenv("LINEAGE_DATA", str(root))
    assert "text" in D.label_names(DataConfig(name=name, size=6))
    assert "text" not in D.label_names(DataConfig(name="tones", size=6))
    batch = clips.take([4, 1])
    assert batch["text"].shape == (2, clips.labels["text"].shape[1])
    train, test = clips.split(0.5)
    assert len(train.labels["text"]) + len(test.labels["text"]) == 6
