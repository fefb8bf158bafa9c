#!/usr/bin/env bash
# The full error-analysis pipeline on MedBench/OpenCompass outputs:
#   score the outputs -> keep the wrong ones -> classify them -> report like the paper.
#
# usage: pipelines/medbench_error_analysis.sh DATA_DIR [DB] [MODEL] [KEY]
#   DATA_DIR  folder with prompts/<task>.jsonl and outputs/<model>/<task>.jsonl
#   DB        DuckDB file (default medbench.duckdb)
#   MODEL     judge model (default offline; e.g. openai/gpt-4o-mini, or openai/NAME with MEDJUDGE_API_BASE)
#   KEY       optional answer key (JSONL/CSV with task,id,answer) for choice tasks
set -euo pipefail
data=${1:?usage: $0 DATA_DIR [DB] [MODEL] [KEY]}
db=${2:-medbench.duckdb}
model=${3:-offline}
key=${4:-}

medjudge score "$data"/outputs/* --prompts "$data/prompts" --db "$db" ${key:+--key "$key"}
medjudge label --only-wrong --db "$db" --model "$model" ${MEDJUDGE_API_BASE:+--api-base "$MEDJUDGE_API_BASE"}
medjudge report --db "$db" --out "${db%.duckdb}-report.html"
medjudge report --db "$db" --out "${db%.duckdb}-report.md" --format md
echo "report: ${db%.duckdb}-report.html"
