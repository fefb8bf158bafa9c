"""`python -m judge` runs the medjudge CLI."""

from judge.cli.app import main

main()
