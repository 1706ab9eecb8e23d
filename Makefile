# Two entry points a new user needs: `make demo` (set up, then run the main job) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO := demo_out

.PHONY: setup demo test lint bench clean proto redis browser device-kit

setup: $(STAMP)

# setuptools < 81: tritonclient's shared-memory utilities import pkg_resources, which setuptools 81 removed.
# CPU torch first and pinned: an unpinned torch would pull the CUDA build (several GB).
# sam2 (SAM 2's code) goes in without its torchvision requirement (no CPU torchvision exists here; the modules
# samem uses do not import it), built without isolation against the installed torch and without its CUDA extension.
# nvidia-pytriton goes in without its dependencies: samem needs only the tritonserver binary and python backend it
# ships (they run on CPU-only machines), not pytriton's own Python stack.
$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip "setuptools<81" wheel
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[test,dashboard]'
	SAM2_BUILD_CUDA=0 $(BIN)/pip install -q --no-deps --no-build-isolation sam2==1.1.0
	$(BIN)/pip install -q --no-deps nvidia-pytriton==0.7.0
	touch $@

# The main job on the embedded defaults: simulate a video, track its particles from one box each on the first frame
# with the shipped samem-compact weights, analyse the trajectories (units from the simulation: 0.5 nm/px, 20 fps).
demo: setup
	$(BIN)/samem simulate $(DEMO)/video --seed 1 --px-nm 0.5 --fps 20
	$(BIN)/samem track $(DEMO)/video/video.tif --prompts $(DEMO)/video/prompts.json --out $(DEMO)/tracked \
		--analyze --px-nm 0.5 --fps 20
	@echo "Open $(DEMO)/tracked/overlay.mp4 and $(DEMO)/tracked/analysis/report.html"

lint: setup
	$(BIN)/ruff check .

# The service tests start their own redis-server (free port, nothing on disk): install it where it is missing.
redis:
	@command -v redis-server >/dev/null || (apt-get update -qq && apt-get install -y -qq redis-server)

# The dashboard's end-to-end tests drive Debian's chromium through playwright (playwright's own download fails here).
browser:
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)

test: setup lint redis browser
	$(BIN)/pytest -q

# Regenerate the committed gRPC code (services/samem/service/api) after editing proto/samem/v1/*.proto.
proto: setup
	$(BIN)/python -m samem.service.codegen

bench: setup
	$(BIN)/python bench/bench_msd.py

# What bench/device_run.sh needs on the `device` tool's GPU machine (Python 3.12, torch there), into .whl/ (git-ignored,
# about 30 MB): SAM 2's code, built without its CUDA extension, and its pure-Python needs; python-rapidjson for
# Python 3.12 and setuptools < 81 for tritonclient; and triton-kit.tar.xz, this venv's tritonclient plus the parts of
# the nvidia-pytriton wheel a server with the python backend needs (the wheel itself, 55 MB, would not travel).
KIT_SITE = $(shell $(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
device-kit: setup
	rm -rf .whl && mkdir -p .whl
	SAM2_BUILD_CUDA=0 $(BIN)/pip wheel -q --no-deps --no-build-isolation -w .whl sam2==1.1.0 hydra-core==1.3.8 \
		omegaconf==2.3.1 antlr4-python3-runtime==4.9.3 iopath==0.1.10 mrcfile==1.5.4 setuptools==80.10.2
	$(BIN)/pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
		--platform manylinux_2_28_x86_64 -d .whl python-rapidjson==1.25
	tar -cJf .whl/triton-kit.tar.xz -C $(KIT_SITE) --exclude='libpython3*' --exclude=__pycache__ tritonclient \
		nvidia_pytriton.libs pytriton/__init__.py pytriton/tritonserver/bin pytriton/tritonserver/backends \
		pytriton/tritonserver/python_backend_stubs/3.12

clean:
	rm -rf $(VENV) $(DEMO) build *.egg-info services/*.egg-info
