"""Cited, extractive question answering over documents (see README.md and ../shared/DESIGN.md)."""
import warnings

# setuptools is pinned below 81 for milvus-lite 2.5 (requirements-milvus.txt), so pkg_resources exists again and jieba 0.42
# imports it, warning on every start; nothing a user can act on, so the product does not print it.
warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
