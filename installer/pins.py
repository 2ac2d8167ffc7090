"""Pins that live outside pyproject.toml's dependency lists, in one place. Plain Python with no imports, so
install.py can read it before anything is installed, and tests/run from the shell.

torch is installed first and on its own: left to itself, sentence-transformers makes pip pick a multi-GB
CUDA build of torch; this pin is the CPU build's version.
"""

TORCH = "torch==2.13.0"
