"""`python -m methods.dsdl validate|convert|info|view|template|generate` (see cli.py)."""

from methods.dsdl.cli import main

main()
