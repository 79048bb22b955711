"""Figures come from files: every model card's measured block is what `make cards` writes from the
executed chapters and the committed benchmark results, so a stale or hand-typed figure fails here."""

import importlib.util
from pathlib import Path

import pytest

from lineage import registry

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("cards", ROOT / "scripts" / "cards.py")
cards = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cards)


@pytest.mark.parametrize("name", registry.names())
def test_the_cards_measured_block_is_generated_from_its_sources(name):
    old, new = cards.render(registry.load(name), cards.chapter_figures())
    assert old == new, f"zoo/{name}/README.md: the measured block differs from its sources; run `make cards`"


def test_every_chapter_of_a_model_records_its_figures():
    recorded = cards.chapter_figures()
    for name in registry.names():
        assert recorded.get(name), f"no chapter records figures for {name} (lineage.display.figures)"
