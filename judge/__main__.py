"""`python -m judge` runs the medjudge CLI."""

from judge.cli import main

main()
