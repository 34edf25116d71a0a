#!/usr/bin/env bash
# Reproduce the scheduler comparison in docs/results/: every registered scheduler on the
# offline tables (NAS-Bench-201 x 3, FCNet x 4, HPOBench-MLP x 8, mlp_sklearn x 3), 10 seeds
# each, in parallel with Hydra's joblib launcher (one run per core), then the analysis
# (normalized regret between the table's optimum and the median first-reported value).
#
#   bash experiments/reproduce.sh            # from the repository root
#
# Knobs (environment variables):
#   SEEDS=10                       seeds per (scheduler, task): seed=range(0,SEEDS)
#   SCHEDULERS=asha,random         default: every single-objective scheduler registered in
#                                  core.schedulers.SCHEDULERS (its constructor takes metric)
#   FAMILIES="nasbench201 fcnet"   default: nasbench201 fcnet hpobench_mlp mlp_sklearn
#                                  (families not registered, or whose data is missing, are
#                                  left out with the reason)
#   MAX_TASKS=4                    only the first 4 tasks of each family (0: all, default)
#   FIRST_TASK_ONLY=1              MAX_TASKS=1: a quick slice
#   OUT=multirun/reproduce         sweep directory; rerunning resumes (complete runs skip)
#   RESULTS=docs/results           where the analysis writes figures and tables (all tasks
#                                  pooled; with several families each in RESULTS/<family>/)
#   N_JOBS=-1                      parallel runs (-1: one per core)
#   PYTHON=python
# Exit status: 0 if every run completed, 1 if some failed (their failed.txt names why;
# the analysis still runs on the others) or a family was left out.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python}
SEEDS=${SEEDS:-10}
OUT=${OUT:-multirun/reproduce}
RESULTS=${RESULTS:-docs/results}
N_JOBS=${N_JOBS:--1}
MAX_TASKS=${MAX_TASKS:-$([ "${FIRST_TASK_ONLY:-0}" = 1 ] && echo 1 || echo 0)}
FAMILIES=${FAMILIES:-nasbench201 fcnet hpobench_mlp mlp_sklearn}
# the single-objective schedulers of the registry (those taking `metric`), read at run time
SCHEDULERS=${SCHEDULERS:-$("$PYTHON" -c '
import inspect
from core.schedulers import SCHEDULERS, scheduler_class
print(",".join(n for n in SCHEDULERS
               if "metric" in inspect.signature(scheduler_class(n).__init__).parameters))
')}

status=0
swept=""
start_all=$(date +%s)
mkdir -p "$OUT"
for family in $FAMILIES; do
    # the family's first MAX_TASKS tasks; nothing (and the reason on stderr) if the family
    # is not registered or its data is missing
    tasks=$("$PYTHON" -c '
import sys
from blackboxes.repository import BENCHMARKS, available, status
family, limit = sys.argv[1], int(sys.argv[2])
b = BENCHMARKS.get(family)
if b is None:
    sys.exit(f"reproduce: benchmark {family} is not registered; left out")
if not available(family, b.tasks[0]):
    sys.exit(f"reproduce: {family} left out: {status(family, b.tasks[0])}")
print(",".join(b.tasks[:limit] if limit > 0 else b.tasks))
' "$family" "$MAX_TASKS") || true
    if [ -z "$tasks" ]; then
        status=1
        continue
    fi
    swept="$swept $family"
    echo "reproduce: $family tasks=$tasks schedulers=$SCHEDULERS seeds=0..$((SEEDS - 1))" >&2
    start=$(date +%s)
    "$PYTHON" experiments/run.py -m hydra/launcher=joblib "hydra.launcher.n_jobs=$N_JOBS" \
        "hydra.sweep.dir=$OUT/$family" "benchmark=$family" "benchmark.task=$tasks" \
        "scheduler=$SCHEDULERS" "seed=range(0,$SEEDS)" progress=false || status=1
    echo "$family $(($(date +%s) - start)) s" | tee -a "$OUT/timings.txt" >&2
done
echo "all $(($(date +%s) - start_all)) s" | tee -a "$OUT/timings.txt" >&2

# all tasks pooled, then each family on its own (which methods win where)
analyse() {
    "$PYTHON" analysis/plot_results.py "$1" --out "$2" --baseline random --x time --agg iqm \
        --reference median --budget-fractions 0.25 0.5 1.0
}
analyse "$OUT" "$RESULTS"
if [ "$(echo $swept | wc -w)" -gt 1 ]; then
    for family in $swept; do
        analyse "$OUT/$family" "$RESULTS/$family" > /dev/null
    done
fi
exit $status
