"""The progress display: one line updated in place inside a notebook, tqdm elsewhere."""

from __future__ import annotations

from lineage import progress


class FakeHandle:
    def __init__(self, shown):
        self.shown = shown

    def update(self, data, raw):
        self.shown[-1] = data["text/plain"]


def test_notebook_bar_keeps_one_output_whose_final_state_is_the_end(monkeypatch):
    shown = []

    def display(data, raw, display_id):
        assert raw and display_id
        shown.append(data["text/plain"])
        return FakeHandle(shown)

    bar = progress.NotebookBar(total=50, initial=10, desc="train x", unit="step", interval=0.0,
                               display=display)
    for _ in range(40):
        bar.update(1)
        bar.set_postfix({"loss": "1.5"})
    bar.close()
    assert len(shown) == 1  # one output, updated in place
    assert "train x" in shown[0] and "50/50" in shown[0] and "100%" in shown[0] and "loss=1.5" in shown[0]


def test_outside_a_kernel_the_bar_is_tqdm():
    assert not progress.in_notebook()
    bar = progress.bar(total=3, desc="x")
    assert type(bar).__name__ == "tqdm"
    bar.close()


def test_training_in_a_notebook_stores_one_progress_line(tmp_path, tiny_overrides):
    """A real kernel trains a few steps; the executed cell keeps one progress output, not a redraw list."""
    import nbformat
    from nbclient import NotebookClient

    code = ("from lineage import train, registry\n"
            f"cfg = registry.load('wavenet').config('tiny', overrides={tiny_overrides + ['train.steps=4']!r})\n"
            f"last = train.train('wavenet', cfg, {str(tmp_path / 'run')!r})\n"
            "print('done', last['step'])")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    NotebookClient(nb, timeout=300, kernel_name="python3").execute()
    outputs = nb.cells[0].outputs
    assert [o.output_type for o in outputs] == ["display_data", "stream"], outputs
    assert "4/4" in outputs[0].data["text/plain"] and outputs[1].text == "done 4\n"
