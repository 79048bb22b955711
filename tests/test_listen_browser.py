"""The listening page in a real browser: headless Chromium (the system's own, driven by Playwright).

The page must load from a file:// URL with no console errors, every <audio> must have a playable source
with a duration, and every image must decode. Chromium comes from the system (`apt install chromium` on
Debian; CI installs it); Playwright never downloads a browser here. Without Chromium the test is skipped
locally and fails under CI (CI=true), so a missing install step cannot hide.
"""

from __future__ import annotations

from lineage import listen
from lineage.cli import main


CHECK = """async () => {
  const audios = [...document.querySelectorAll('audio')];
  await Promise.all(audios.map(a => a.readyState >= 1 ? null : new Promise(done => {
    a.addEventListener('loadedmetadata', done, {once: true});
    a.addEventListener('error', done, {once: true});
    a.load();
  })));
  return {
    audio: audios.map(a => ({duration: a.duration, error: a.error ? a.error.code : null,
                             playable: a.canPlayType('audio/wav'), src: a.currentSrc.slice(0, 22)})),
    images: [...document.images].map(i => ({ok: i.complete && i.naturalWidth > 0, alt: i.alt})),
    tables: document.querySelectorAll('table').length,
    text: document.body.innerText,
  };
}"""


def test_listening_page_loads_plays_and_shows_in_chromium(browser, tmp_path, tiny_overrides):
    run = tmp_path / "run"
    assert main(["train", "wavenet", "--out", str(run), "--quiet", "--set", *tiny_overrides,
                 "train.sample_n=3", "train.sample_seconds=0.2"]) == 0
    page_path = listen.write_page([run], tmp_path / "listening.html", n_reference=2)
    page = browser.new_page()
    problems = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url[:60]}"))
    page.goto(page_path.as_uri())
    page.wait_for_load_state("load")
    found = page.evaluate(CHECK)
    assert problems == []
    assert len(found["audio"]) == 2 + 3  # the reference row and the run's samples
    for a in found["audio"]:
        assert a["error"] is None and a["playable"] and a["src"].startswith("data:audio/wav")
        assert a["duration"] > 0.1, a
    assert len(found["images"]) == len(found["audio"]) and all(i["ok"] for i in found["images"])
    assert "WaveNet (2016)" in found["text"] and "Reference: real clips" in found["text"]
