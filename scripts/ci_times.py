"""The time table at the end of ``make test``: each stage, each chapter, and the projected total when
the book has ``--chapters`` chapters at today's measured rate per chapter.

    python scripts/ci_times.py STAGE_TIMES CHAPTER_TIMES [--chapters 17]

STAGE_TIMES has one ``name seconds`` line per stage (scripts/stage writes it); CHAPTER_TIMES is the
JSON notebooks/conftest.py writes. The chapters stage runs two notebooks at a time, so its wall time is
less than the sum of the chapters' own times; the projection scales the stage's wall time.
"""

import argparse
import json
from pathlib import Path

BUDGET_MINUTES, CHAPTER_BUDGET_S = 50, 240

parser = argparse.ArgumentParser()
parser.add_argument("stage_times", type=Path)
parser.add_argument("chapter_times", type=Path)
parser.add_argument("--chapters", type=int, default=17)
args = parser.parse_args()

stages = {}
for line in args.stage_times.read_text().splitlines():
    name, seconds = line.rsplit(" ", 1)
    stages[name] = int(seconds)
chapters = json.loads(args.chapter_times.read_text()) if args.chapter_times.is_file() else {}

print("=== stages (s)")
for name, seconds in stages.items():
    print(f"  {name:<24} {seconds:>6}")
total = sum(stages.values())
print(f"  {'total':<24} {total:>6}  ({total / 60:.1f} min)")
if chapters:
    print(f"=== chapters (s, each in one process of one thread; budget {CHAPTER_BUDGET_S} s)")
    for name, seconds in chapters.items():
        flag = "  over budget" if seconds > CHAPTER_BUDGET_S else ""
        print(f"  {name:<28} {seconds:>6.0f}{flag}")
    print(f"  {'sum':<28} {sum(chapters.values()):>6.0f}")
    wall = next((s for n, s in stages.items() if n.startswith("chapters")), None)
    if wall is not None:
        projected = total - wall + wall / len(chapters) * args.chapters
        print(f"=== projected for {args.chapters} chapters at {wall / len(chapters):.0f} s of stage time per "
              f"chapter: {projected / 60:.1f} min (budget {BUDGET_MINUTES} min)")
        # the same book if every chapter still to come keeps its budget (two run at a time)
        to_come = max(args.chapters - len(chapters), 0)
        kept = total + to_come * CHAPTER_BUDGET_S / 2
        print(f"    if the {to_come} chapters to come each take their {CHAPTER_BUDGET_S} s: {kept / 60:.1f} min")
