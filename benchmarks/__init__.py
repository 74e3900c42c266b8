"""Quality and speed benchmarks: `python -m benchmarks [--quick]` writes benchmarks/results.md and results.json.

Modules, one job each:
  machine   facts about this machine, timers, percentiles, peak memory, child processes
  cache     an embedder that keeps its vectors on disk (benchmarks/.cache/), keyed by embedder and text
  corpora   the evaluation sets (seeds, CMRC trial) and the indexes built from them
  build     index build cost, run in a child process so its peak memory is its own
  suite     the order of a run, and what each section measures
  latency   `ask` latency by stage, start-up time, a very long question
  threads   one question's embedding under OpenMP settings, each in a fresh process
  quality   retrieval quality: hybrid, keywords alone, dense alone, and a sentence-transformers baseline
  scale     FAISS exact / HNSW / IVF-PQ and bm25s keyword search at 10k, 100k and 1M passages
  gpu       sentence-transformers throughput on GPU against CPU, where a GPU is present
  report    results.md and results.json
  reader_bench  the answer path: seeds, CMRC trial open and with the answers removed, the abstention curve, speed
  english   English questions: retrieval and `ask` (`python -m benchmarks.english`)
  conversation  follow-up questions in turns (`python -m benchmarks.conversation`)
  load      many users against the served app (`python -m benchmarks.load`)
  milvus    FAISS + bm25s against Milvus Lite side by side (`python -m benchmarks.milvus`)
"""
