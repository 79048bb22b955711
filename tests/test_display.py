"""The inline player stores the clip losslessly: decoding the page's FLAC gives back the 16-bit samples."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import soundfile as sf

from lineage.display import play


def test_player_embeds_the_exact_16_bit_clip():
    rng = np.random.default_rng(0)
    clip = np.stack([np.sin(np.arange(4000) * 0.05), rng.uniform(-1.5, 1.5, 4000)]) * 0.9  # clipped at 1
    html = play(clip, 8000)._repr_html_()
    data = re.search(r'src="data:audio/flac;base64,([^"]+)" type="audio/flac"', html).group(1)
    decoded, rate = sf.read(io.BytesIO(base64.b64decode(data)), dtype="int16")
    assert rate == 8000 and decoded.shape == (4000, 2)
    expected = np.round(np.clip(clip, -1, 1).T * 32767)
    assert np.abs(decoded - expected).max() <= 1  # only 16-bit rounding
