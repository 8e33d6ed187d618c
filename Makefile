# Two entry points, both self-bootstrapping: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint browser bench clean-venv

# The stamp depends on the requirements, so editing them reinstalls into the same venv.
$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -r requirements.txt
	$(BIN)/pip install -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/python app.py $(ARGS)

# Debian's Chromium drives the browser test; Playwright's own browser download cannot work offline.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium not installed: the browser test will be skipped"; fi; }

test: $(STAMP) browser lint
	$(BIN)/python -m pytest -q tests $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The quick benchmarks, a few minutes in all; bench_sd_step.py, bench_click.py's SAM sizes, load_app.py and
# experiments/ take much longer and run by hand (docs/results/README.md).
bench: $(STAMP)
	$(BIN)/python bench/caption_rules.py
	$(BIN)/python bench/flow_presets.py
	$(BIN)/python bench/synthetic_speed.py
	$(BIN)/python bench/video_data.py
	$(BIN)/python bench/bench_unet_overhead.py
	$(BIN)/python bench/bench_click.py --models
	$(BIN)/python bench/app_click_latency.py --segmenter classical
	$(BIN)/python bench/bench_pipeline.py --repeats 1
	$(BIN)/python bench/click_to_video.py --segmenter classical --repeats 1

clean-venv:
	rm -rf $(VENV)
