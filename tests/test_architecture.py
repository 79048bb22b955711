"""The house rules: lineage never imports zoo; every registered entry is complete; the timeline is sound."""

import ast
from pathlib import Path

import pytest

from lineage import registry, timeline
from lineage.config import make_config

ROOT = Path(__file__).resolve().parents[1]


def test_lineage_never_imports_zoo():
    for path in (ROOT / "lineage").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not any(n == "zoo" or n.startswith("zoo.") for n in names), path


def test_timeline_is_consistent_and_names_the_zoo():
    timeline.check()
    assert len(timeline.SYSTEMS) >= 23
    implemented = {s.zoo for s in timeline.SYSTEMS if s.zoo}
    assert implemented == set(registry.names())


@pytest.mark.parametrize("name", registry.names())
def test_every_entry_has_presets_card_and_protocol(name):
    entry = registry.load(name)
    assert {"tiny", "gpu"} <= set(entry.presets())
    for preset in ("tiny", "gpu"):
        make_config(entry.Config, entry.preset_path(preset))  # every key and value is valid
    card = entry.card()
    assert timeline.get(entry.system).name in card and "tiny" in card
