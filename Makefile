# make run: set up and serve the chat · make test: set up and run the tests · make bench: benchmarks
# RAG_STORE=milvus RAG_MILVUS_URI=./milvus.db make run: the same over Milvus Lite (or RAG_MILVUS_URI=http://host:19530)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: install dev run index test bench clean

# RAG_STORE=milvus make run / make index: the pinned Milvus client and Milvus Lite as well (requirements-milvus.txt)
install: $(VENV)/.installed $(if $(filter milvus,$(RAG_STORE)),$(VENV)/.milvus-installed)

$(VENV)/.installed: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -r requirements.txt
	touch $@

$(VENV)/.milvus-installed: $(VENV)/.installed requirements-milvus.txt
	$(BIN)/pip install -q -r requirements-milvus.txt
	touch $@

dev: $(VENV)/.dev-installed

$(VENV)/.dev-installed: $(VENV)/.installed requirements-dev.txt requirements-milvus.txt
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@

index: install
	$(BIN)/python -m rag index

run: index
	$(BIN)/python app.py

test: dev
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python -m benchmarks

clean:
	rm -rf .rag_index .pytest_cache test-artifacts
