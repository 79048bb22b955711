# Two commands on a fresh machine: `make demo` (hear every model at once) and `make test` (every test).
# Both create .venv on first use and install the pinned set from constraints.txt.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: setup data demo tour pretrain test unit notebooks nbexec book lab bench bench-diffusion bench-gans bench-reliability bench-table bench-latent bench-add cards clean golden-ddsp golden-s4

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -c constraints.txt -e '.[dev,book,jax]'
	@if command -v cc >/dev/null; then $(PY) -m pip install -q -c constraints.txt -e '.[pesq]'; \
	else echo "setup: no C compiler, so PESQ (published as source only) is not installed: lineage eval leaves its column out"; fi
	touch $(STAMP)

# Every zoo entry's shipped weights heard on one page, runs/demo/listening.html: nothing is trained and no
# data set is built (a few minutes on 2 CPU cores).
demo: $(STAMP)
	$(VENV)/bin/lineage demo --out runs/demo

# The long way: train every zoo entry's tiny preset now (about an hour on 2 cores), then listen:
# runs/tour/listening.html.
tour: $(STAMP)
	$(VENV)/bin/lineage tour --out runs/tour

# Reproduce one entry's shipped weights, zoo/NAME/pretrained/: train tiny, evaluate it, resume as small,
# ship in float16 and evaluate again (`make pretrain NAME=wavenet`; run it again to resume after a kill).
pretrain: $(STAMP)
	@test -n "$(NAME)" || { echo "make pretrain: name an entry, e.g. make pretrain NAME=wavenet"; exit 2; }
	$(VENV)/bin/lineage data build $$($(PY) -c "from lineage import registry; print(registry.load('$(NAME)').config('small').data.name)")
	$(PY) scripts/pretrain.py $(NAME)

# The data sets the chapters train on, built once and shared by the tests and every chapter.
DATASETS := tones notes drums digits
data: $(STAMP)
	for d in $(DATASETS); do $(VENV)/bin/lineage data build $$d || exit 1; done

# The data sets, the unit tests (the whole-book browser test among them), then every chapter executed
# by nbval. Tests and chapters run in two processes of one torch thread each (pytest-xdist): on two
# cores that finishes sooner than one process of two threads. Each stage and each chapter is timed;
# the table at the end projects the total for a book of 17 chapters.
XDIST := -n 2
test: $(STAMP)
	@rm -f .stage-times .chapter-times.json
	@STAGE_TIMES=.stage-times scripts/stage "data sets" $(MAKE) --no-print-directory data
	@STAGE_TIMES=.stage-times OMP_NUM_THREADS=1 scripts/stage "unit tests" $(PY) -m pytest tests -q $(XDIST)
	@STAGE_TIMES=.stage-times OMP_NUM_THREADS=1 CHAPTER_TIMES=.chapter-times.json \
	  scripts/stage "chapters (nbval)" $(PY) -m pytest --nbval-lax notebooks -q -p no:cacheprovider \
	  $(XDIST) --dist loadfile
	@$(PY) scripts/ci_times.py .stage-times .chapter-times.json
	@rm -f .stage-times .chapter-times.json

unit: $(STAMP)
	$(PY) -m pytest tests -q

# Execute the notebooks in place so their outputs (sound, plots) are committed and shown by the book,
# two at a time in processes of one thread (as `make test` runs them); their times go to
# benchmarks/results/chapter-times.json. Run `make cards` after.
nbexec: $(STAMP)
	$(PY) scripts/execute_notebooks.py --jobs 2 notebooks/*.ipynb

book: $(STAMP)
	rm -rf book/_build
	$(VENV)/bin/jupyter-book build book --warningiserror --quiet
	@echo "book: book/_build/html/index.html"

lab: $(STAMP)
	$(PY) -m pip install -q -c constraints.txt -e '.[dev,book,lab,jax]'
	$(VENV)/bin/jupyter lab notebooks/

# The measured block of every model card, written from the executed chapters and benchmarks/results/.
cards: $(STAMP)
	$(PY) scripts/cards.py

# Speed benchmarks (not tests): figures go into the model cards.
bench: $(STAMP)
	$(PY) benchmarks/wavenet_generation.py --out benchmarks/results/wavenet-generation.json

# Sample by sample against a few denoising steps: trains (or reuses) the runs it compares, then one table.
DIFF_RUNS := runs/wavenet-tiny runs/diffwave-tiny runs/wavegrad-tiny runs/diffwave-vocoder
bench-diffusion: $(STAMP)
	for m in wavenet:tiny diffwave:tiny wavegrad:tiny diffwave:vocoder; do \
	  name=$${m%%:*}; preset=$${m##*:}; \
	  if [ -d runs/$$name-$$preset ]; then resume=--resume; else resume=; fi; \
	  $(VENV)/bin/lineage train $$name --preset $$preset --out runs/$$name-$$preset --quiet $$resume || exit 1; \
	done
	$(PY) benchmarks/diffusion_speed.py $(DIFF_RUNS) --n 8 --out benchmarks/results/diffusion-speed.md

# Each GAN's tiny preset from three seeds, checked for divergence, silence and mode collapse.
bench-gans: $(STAMP)
	$(PY) benchmarks/gan_stability.py --models wavegan gansynth --seeds 0 1 2

# Kill and resume at every kind of moment (24 SIGKILLs), then reliability.md.
bench-reliability: $(STAMP)
	$(PY) benchmarks/reliability.py --kills 24

# The zoo's comparison table on `digits` (tiny presets), kept in benchmarks/results/ for chapter 90. Every
# entry but latent diffusion trains in one run; latent diffusion needs an autoencoder of the digits at
# 8 kHz first (the shipped one knows drums at 16 kHz) and the digits' caption vocabulary, so its row is
# trained after the table's and added to it (bench-latent).
BENCH_OUT := runs/bench/digits-tiny
BENCH_MODELS = $$($(PY) -c "from lineage import registry; print(' '.join(n for n in registry.names() if n != 'latent_diffusion'))")
bench-table: $(STAMP)
	$(VENV)/bin/lineage bench table --data digits --preset tiny --out $(BENCH_OUT) --set data.sample_rate=8000 codec_lm:model.codec=$(BENCH_OUT)/runs/codec codec_lm:data.seconds=1.0 --models $(BENCH_MODELS)
	rm -rf benchmarks/results/digits-tiny && mkdir -p benchmarks/results/digits-tiny
	cp -r $(BENCH_OUT)/table.md $(BENCH_OUT)/table.json $(BENCH_OUT)/clips benchmarks/results/digits-tiny/
	$(MAKE) bench-latent

bench-latent: $(STAMP)
	test -f $(BENCH_OUT)-vae/checkpoints/latest || $(VENV)/bin/lineage train latent_diffusion --preset vae --data digits --set data.sample_rate=8000 data.seconds=1.0 train.steps=4000 -o $(BENCH_OUT)-vae
	$(MAKE) bench-add NAME=latent_diffusion SET="model.autoencoder=$(BENCH_OUT)-vae model.clap_words=23 data.seconds=1.0"

# One entry joins the committed table without training the others again (`make bench-add NAME=sashimi`):
# its row is trained and judged in a run of its own, then merged (the table names the rows added so).
# SET adds overrides: the codec language model writes the tokens of a codec trained on the same data,
#   make bench-add NAME=codec_lm SET="model.codec=runs/bench/digits-tiny-codec/runs/codec data.seconds=1.0"
bench-add: $(STAMP)
	@test -n "$(NAME)" || { echo "make bench-add: name an entry, e.g. make bench-add NAME=sashimi"; exit 2; }
	$(VENV)/bin/lineage bench table --data digits --preset tiny --out $(BENCH_OUT)-$(NAME) --set data.sample_rate=8000 $(SET) --models $(NAME)
	$(PY) -c "import datetime, pathlib; from lineage import bench; bench.add_rows(pathlib.Path('benchmarks/results/digits-tiny'), pathlib.Path('$(BENCH_OUT)-$(NAME)'), str(datetime.date.today()))"

# Golden fixtures from Magenta's original ddsp (TensorFlow), in a venv of their own (Python 3.11):
# ddsp 3.7.0's dependency pins do not install on modern Python, so it goes in with --no-deps.
GOLDEN_PYTHON ?= python3.11
GOLDEN_VENV := .venv-golden
GOLDEN_STAMP := $(GOLDEN_VENV)/.installed

$(GOLDEN_STAMP):
	test -x $(GOLDEN_VENV)/bin/python || $(GOLDEN_PYTHON) -m venv $(GOLDEN_VENV)
	$(GOLDEN_VENV)/bin/pip install tensorflow==2.15.1 tensorflow-probability==0.23.0 gin-config "numpy<2" librosa scipy
	$(GOLDEN_VENV)/bin/pip install --no-deps ddsp==3.7.0
	touch $(GOLDEN_STAMP)

golden-ddsp: $(GOLDEN_STAMP)
	$(GOLDEN_VENV)/bin/python scripts/golden_ddsp.py

# Golden fixtures from the authors' S4D (github.com/state-spaces/s4, not on any registry): `make golden-s4
# S4=PATH` with PATH a checkout of it. Their file needs einops, installed beside the script, not in .venv.
golden-s4: $(STAMP)
	@test -n "$(S4)" || { echo "make golden-s4: S4=PATH, a checkout of github.com/state-spaces/s4"; exit 2; }
	$(PY) -m pip install -q --target .golden-s4-deps einops
	PYTHONPATH=.golden-s4-deps $(PY) scripts/golden_s4d.py $(S4)

clean:
	rm -rf runs book/_build .pytest_cache
