"""A bundled demo file of wrong answers (the gold test split without its labels)."""

from pathlib import Path

DEMO_FILE = Path(__file__).parent / "wrong_answers.jsonl"
