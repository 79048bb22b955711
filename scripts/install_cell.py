"""Write the first code cell of every chapter: it installs audio-lineage where it is missing, so a
chapter opened alone (in Colab, say) runs. The repository it installs from is named once, in
book/_config.yml (``repository.url``); a chapter inside a checkout installs that checkout instead.

    python scripts/install_cell.py           # write the cell into every chapter
    python scripts/install_cell.py --check   # exit 1 if a chapter's first code cell differs
"""

import argparse
import json
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
TAG = "install-if-missing"


def cell_source(url: str) -> str:
    return f'''# Setup: installs audio-lineage where it is missing (a fresh Colab runtime); does nothing otherwise.
import importlib.util, subprocess, sys
from pathlib import Path

if importlib.util.find_spec("lineage") is None:
    checkout = Path.cwd().parent  # this chapter inside a checkout of the project: install that
    source = str(checkout) if (checkout / "lineage").is_dir() else "git+{url}"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", source], check=True)'''


def chapters() -> list[Path]:
    return sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    url = yaml.safe_load((ROOT / "book" / "_config.yml").read_text())["repository"]["url"]
    source = cell_source(url)
    stale = []
    for path in chapters():
        nb = json.loads(path.read_text())
        code = [i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code"]
        first = nb["cells"][code[0]]
        if TAG in first["metadata"].get("tags", []):
            if "".join(first["source"]) == source:
                continue
            first["source"] = source.splitlines(keepends=True)
        else:
            nb["cells"].insert(code[0], {
                "cell_type": "code", "execution_count": None, "id": "install-cell",
                "metadata": {"tags": [TAG, "hide-input"]}, "outputs": [],
                "source": source.splitlines(keepends=True)})
        stale.append(path.name)
        if not args.check:
            path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    if args.check and stale:
        print(f"the install cell differs from book/_config.yml's in {', '.join(stale)}: "
              "run python scripts/install_cell.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
