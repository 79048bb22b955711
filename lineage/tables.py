"""The comparison table in words: its columns, the order of its rows, and how it is written (plain text
for the terminal, Markdown for files); the listening page draws the same rows as HTML.

It reads the ``metrics.json`` dicts that :func:`lineage.eval.report.evaluate` writes and computes nothing.
"""

from __future__ import annotations

COLUMNS = [("nll_bits", "NLL (bits)", "{:.3f}"), ("recon_nll_bits", "NLL given z (bits)", "{:.3f}"),
           ("token_bits", "bits / token", "{:.3f}"),
           ("mrstft", "MR-STFT ↓", "{:.3f}"), ("sc", "SC ↓", "{:.3f}"), ("lsd", "LSD (dB) ↓", "{:.2f}"),
           ("fid", "FID ↓", "{:.2f}"), ("is", "IS ↑", "{:.2f}"),
           ("mis", "mIS ↑", "{:.3g}"), ("am", "AM ↓", "{:.3f}"), ("ndb_k", "NDB/K ↓", "{:.2f}"),
           ("class_accuracy", "class acc", "{:.2f}"), ("pitch_accuracy", "pitch acc", "{:.2f}"),
           ("crepe_pitch_accuracy", "CREPE pitch", "{:.2f}"), ("periodicity", "periodicity ↑", "{:.2f}"),
           ("dnsmos", "DNSMOS ↑", "{:.2f}"), ("pesq", "PESQ ↑", "{:.2f}"), ("stoi", "STOI ↑", "{:.2f}"),
           ("clap_score", "CLAP ↑", "{:.3f}")]


def table_rows(results: list[dict]) -> list[tuple[str, dict, bool]]:
    """``(name, row, is_reference)`` for a comparison table: the real rows of the first result, the
    baselines of the first result that has them, then every model's row."""
    rows = [(name, r, True) for name, r in results[0]["rows"].items() if name.startswith("real")]
    for m in results:
        base = [(name, r, True) for name, r in m["rows"].items() if name.startswith("baseline")]
        if base:
            rows += base
            break
    return rows + [(f"{m['system']} ({m['year']})", m["rows"][m["model"]], False) for m in results]


def format_table(results: list[dict], markdown: bool = False) -> str:
    """The comparison table: the real rows of the first result, then every model's row."""
    if not results:
        return ""
    rows = [(name, r) for name, r, _ in table_rows(results)]
    cols = [c for c in COLUMNS if any(r.get(c[0]) is not None for _, r in rows)]
    header = ["", *[c[1] for c in cols]]
    body = [[name, *[(fmt.format(r[k]) if r.get(k) is not None else "-") for k, _, fmt in cols]]
            for name, r in rows]
    judge = results[0]["classifier"]
    note = (f"classifier: {judge['label']} ({len(judge['classes'])} classes), held-out accuracy "
            f"{judge['test_accuracy']:.3f}" + ("" if judge["reliable"] else
                                               f" - below the floor {judge['floor']} or a single class: "
                                               "its metrics are unreliable"))
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in body]
        return "\n".join(lines) + f"\n\n{note}; {results[0]['n']} clips of {results[0]['seconds']} s per row.\n"
    widths = [max(len(str(x)) for x in col) for col in zip(header, *body)]
    fmt_row = lambda row: "  ".join(str(x).ljust(w) for x, w in zip(row, widths))  # noqa: E731
    return "\n".join([fmt_row(header), *map(fmt_row, body), note])


def format_speed(result: dict) -> str:
    s = result.get("speed")
    if not s:
        return ""
    g, t = s["generation"], s["training"]
    return (f"generation: RTF {g['rtf']:.3g} for one {g['seconds']} s clip (median of {len(g['times'])}), "
            f"RTF {result['generation_batch']['rtf']:.3g} for a batch of {result['n']}; training: "
            f"{t['steps_per_s']:.2f} steps/s = {t['samples_per_s']:,.0f} samples/s "
            f"(batch {t['batch_size']} x {t['segment']}); on {device_text(result['machine'])}")


def device_text(machine: dict) -> str:
    """Where speed figures were measured: the GPU when the model ran on one, else the CPU and its threads."""
    if str(machine.get("device", "cpu")).startswith("cuda") and machine.get("gpu"):
        return f"{machine['gpu']} (CUDA), torch {machine['torch']}"
    n = machine["torch_threads"]
    return f"{machine['cpu']}, {n} torch thread{'' if n == 1 else 's'}, torch {machine['torch']}"


def losses_text(row: dict) -> str:
    """The losses of a log row in words: ``loss 0.0712``, or ``loss_critic -0.51, loss_generator 0.26``
    for a model trained in parts."""
    parts = [f"{k} {v:.4f}" for k, v in row.items() if k == "loss" or k.startswith("loss_")]
    return ", ".join(parts) or "loss -"
