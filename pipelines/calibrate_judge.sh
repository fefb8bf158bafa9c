#!/usr/bin/env bash
# Calibrate a judge against the gold set and show kappa by judge over time.
#
# usage: pipelines/calibrate_judge.sh MODEL [DB] [PROMPT]
#   MODEL   offline | rules | local | a litellm model string (set MEDJUDGE_API_BASE for vLLM/llama.cpp servers)
#   DB      DuckDB file (default calibration.duckdb)
#   PROMPT  prompt file (default prompts/judge_v1.md)
set -euo pipefail
model=${1:?usage: $0 MODEL [DB] [PROMPT]}
db=${2:-calibration.duckdb}
prompt=${3:-}
probe=0
case "$model" in offline|rules) ;; *) probe=5 ;; esac

medjudge calibrate --gold gold_labels/gold.jsonl --split test --model "$model" --db "$db" \
  --probe-order "$probe" ${prompt:+--prompt "$prompt"} ${MEDJUDGE_API_BASE:+--api-base "$MEDJUDGE_API_BASE"}
medjudge sql --db "$db" "SELECT * FROM kappa_by_judge"
