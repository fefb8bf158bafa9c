"""Evaluation and benchmark scripts of medjudge (not part of the installed package)."""
