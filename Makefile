# The two commands a new user needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Run by package-check inside the installed wheel: the window opens with its default network
# and its icon, and every entry of the Open Template menu exists.
WINDOW_CHECK := from designer.app import create_application; app = create_application([]); \
	from designer.main_window import TEMPLATES, MainWindow; from engine.resources import \
	network_template; window = MainWindow(); [network_template(name) for _, name in TEMPLATES]; \
	assert window.document.spec.layers and not window.windowIcon().isNull(), "no network or icon"

.PHONY: run test install install-test package-check clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip >/dev/null

install: $(PY)
	$(PY) -m pip install -e .

install-test: $(PY)
	$(PY) -m pip install -e '.[test]'

run: install
	$(PY) main.py

test: install-test
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest
	@$(MAKE) --no-print-directory package-check

# What `pip install` gives a user: the wheel in a fresh environment, run from a folder outside
# the checkout, so it works only with the templates, digits, icons and project files it ships;
# without the export extra, exporting says what to install. The checkout's
# pip installs into it (no pip bootstrap, no .pyc compiling): half the time, same install.
package-check: $(PY)
	@rm -rf build  # setuptools' build folder would carry deleted modules into the wheel
	@set -eux; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	$(PY) -m pip wheel --no-deps -q -w "$$tmp" .; \
	$(PY) -m venv --without-pip "$$tmp/venv"; \
	$(PY) -m pip --python "$$tmp/venv/bin/python" install -q --no-compile "$$tmp"/*.whl; \
	cd "$$tmp"; \
	venv/bin/convnet-designer summary lenet5 >/dev/null; \
	venv/bin/convnet-designer data digits >/dev/null; \
	CONVNET_DESIGNER_HOME="$$tmp/home" venv/bin/convnet-designer train default --epochs 1 >/dev/null; \
	ls "$$tmp"/home/runs/*.ckpt >/dev/null; \
	venv/bin/python -c 'from engine.resources import export_project_file as f; assert f("train.py").is_file() and f("README.md").is_file()'; \
	! venv/bin/convnet-designer export lenet5 --format onnx -o net.onnx 2>err.txt; grep -q "needs the onnx package" err.txt; \
	HOME="$$tmp" QT_QPA_PLATFORM=offscreen venv/bin/python -c '$(WINDOW_CHECK)'
	@echo "package-check: the wheel installs and runs outside the checkout"

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .hypothesis build dist
