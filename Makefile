# papers digest: `make demo` and `make test` are the two set-up commands.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
DIGEST := $(BIN)/digest
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test browser-deps lint bench bench-relevance clean help

help:
	@echo "make demo   - install, then in a fresh var/demo: fetch the bundled seeds, add three subscribers, send their digests"
	@echo "make test   - install and run the whole test suite"
	@echo "make lint   - ruff and mypy"
	@echo "make bench  - speed and memory benchmarks (bench/)"
	@echo "make bench-relevance - nDCG@10 and P@10 beside BM25 on the judged profiles, and feedback"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# The demo has a home of its own, made afresh each time: every run sends the three digests.
DEMO := var/demo
demo: export DIGEST_DATABASE_URL = sqlite:///$(CURDIR)/$(DEMO)/digest.sqlite
demo: export DIGEST_MAILDIR = $(CURDIR)/$(DEMO)/mail
demo: $(STAMP)
	@rm -rf $(DEMO) && mkdir -p $(DEMO)
	$(DIGEST) fetch
	$(DIGEST) subscribers add alice@example.org --keywords "kv cache, quantization, long context" \
	  --timezone Europe/Berlin --send-at 00:00 --max-papers 8
	$(DIGEST) subscribers add bob@example.org --keywords "diffusion models, video generation" \
	  --exclude "medical" --timezone America/New_York --send-at 00:00 --max-papers 5
	$(DIGEST) subscribers add carol@example.org --keywords "galaxies, cosmology, black hole" \
	  --timezone Asia/Kolkata --send-at 00:00 --max-papers 5
	$(DIGEST) preview alice@example.org --out $(DEMO)/preview/alice.html
	$(DIGEST) run
	@echo
	@echo "$$(ls $(DEMO)/mail/new | wc -l) digests in $(DEMO)/mail (a Maildir: open it with any mail client, e.g. mutt -f $(DEMO)/mail)"
	@echo "HTML preview of alice's digest: $(CURDIR)/$(DEMO)/preview/alice.html"
	@echo "make demo starts afresh each time; your own setup uses config/digest.toml (var/digest.sqlite, var/mail)"

test: $(STAMP) browser-deps
	$(BIN)/python -m pytest -q

# Headless Chromium for the browser tests, from the system's package manager when this user
# may use it (root, or sudo without a password); otherwise those tests skip, saying so.
# NO_SYSTEM_INSTALL=1 never installs anything.
browser-deps:
	@if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then :; \
	elif [ -n "$(NO_SYSTEM_INSTALL)" ] || ! command -v apt-get >/dev/null 2>&1; then \
	  echo "note: no chromium/chromedriver: the browser tests will skip (apt-get install chromium chromium-driver)"; \
	else \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; else SUDO=none; fi; \
	  if [ "$$SUDO" = none ]; then \
	    echo "note: no chromium/chromedriver and no root: the browser tests will skip (apt-get install chromium chromium-driver)"; \
	  else \
	    echo "installing chromium and chromium-driver for the browser tests (apt-get)"; \
	    ($$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium chromium-driver >/dev/null) \
	      || echo "note: could not install chromium: the browser tests will skip"; \
	  fi; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check digest tests bench
	$(BIN)/ruff format --check digest tests bench
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/run.py

bench-relevance: $(STAMP)
	$(BIN)/python bench/relevance/evaluate.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
