#!/usr/bin/env bash
# Reproduce the scheduler comparison in docs/results/: the single-fidelity schedulers on
# every offline table (NAS-Bench-201 x 3, FCNet x 4, HPOBench-MLP x 8, mlp_sklearn x 3), the
# multi-fidelity ones on the tables with learning curves (offline: mlp_sklearn x 3), 10 seeds
# each, in parallel with Hydra's joblib launcher (one run per core), then the analysis
# (normalized regret between the table's optimum and the median first-reported value).
#
#   bash experiments/reproduce.sh            # from the repository root
#
# Which scheduler runs where comes from the registry's declared kinds
# (core.schedulers.scheduler_names; Scheduler.multi_fidelity / .multi_objective): a
# multi-fidelity scheduler on a table with one fidelity would be random search (run.py
# refuses it), and a multi-objective one has nothing to trade off on these tables.
#
# Knobs (environment variables):
#   SEEDS=10                       seeds per (scheduler, task): seed=range(0,SEEDS)
#   SCHEDULERS=asha,random         default: every single-objective scheduler registered in
#                                  core.schedulers.SCHEDULERS; the multi-fidelity ones among
#                                  them run only on tables with learning curves
#   FAMILIES="nasbench201 fcnet"   default: nasbench201 fcnet hpobench_mlp mlp_sklearn
#                                  (families not registered, or whose data is missing, are
#                                  left out with the reason)
#   MAX_TASKS=4                    only the first 4 tasks of each family (0: all, default)
#   FIRST_TASK_ONLY=1              MAX_TASKS=1: a quick slice
#   OUT=multirun/reproduce         sweep directory: OUT/<family>/single_fidelity and
#                                  OUT/<family>/multi_fidelity; rerunning resumes (complete
#                                  runs skip)
#   RESULTS=docs/results           where the analysis writes figures and tables (default:
#                                  docs/results for the whole comparison, OUT/analysis for
#                                  a slice, so a quick try never overwrites the committed one):
#                                  RESULTS/ the single-fidelity schedulers on every table,
#                                  RESULTS/multi_fidelity/ every scheduler on the tables with
#                                  learning curves (unless they are one family of several:
#                                  then it is RESULTS/<family>/), RESULTS/<family>/ each
#                                  family on its own (with several families)
#   N_JOBS=-1                      parallel runs (-1: one per core)
#   PYTHON=python
# Exit status: 0 if every run completed, 1 if some failed (their failed.txt names why;
# the analysis still runs on the others) or a family was left out.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python}
SEEDS=${SEEDS:-10}
OUT=${OUT:-multirun/reproduce}
N_JOBS=${N_JOBS:--1}
MAX_TASKS=${MAX_TASKS:-$([ "${FIRST_TASK_ONLY:-0}" = 1 ] && echo 1 || echo 0)}
FAMILIES=${FAMILIES:-nasbench201 fcnet hpobench_mlp mlp_sklearn}
# the committed comparison is the whole one; a slice's analysis goes beside its runs
if [ "$SEEDS" = 10 ] && [ "$MAX_TASKS" = 0 ] && [ -z "${SCHEDULERS:-}" ] \
    && [ "$FAMILIES" = "nasbench201 fcnet hpobench_mlp mlp_sklearn" ]; then
    RESULTS=${RESULTS:-docs/results}
else
    RESULTS=${RESULTS:-$OUT/analysis}
fi
echo "reproduce: runs into $OUT, analysis into $RESULTS" >&2
SCHEDULERS=${SCHEDULERS:-$("$PYTHON" -c '
from simtune.core.schedulers import scheduler_names
print(",".join(scheduler_names(multi_objective=False)))
')}
# SCHEDULERS split by declared kind: "single|multi" (either may be empty)
split=$("$PYTHON" -c '
import sys
from simtune.core.schedulers import scheduler_class
names = [n for n in sys.argv[1].split(",") if n]
kinds = {n: scheduler_class(n).multi_fidelity for n in names}
print(",".join(n for n in names if not kinds[n]) + "|" + ",".join(n for n in names if kinds[n]))
' "$SCHEDULERS")
SINGLE=${split%|*}
MULTI=${split#*|}

status=0
swept=""
sf_dirs=""
mf_dirs=""
start_all=$(date +%s)
mkdir -p "$OUT"
sweep() {  # family tasks schedulers kind
    echo "reproduce: $1 ($4) tasks=$2 schedulers=$3 seeds=0..$((SEEDS - 1))" >&2
    "$PYTHON" experiments/run.py -m hydra/launcher=joblib "hydra.launcher.n_jobs=$N_JOBS" \
        "hydra.sweep.dir=$OUT/$1/$4" "benchmark=$1" "benchmark.task=$2" \
        "scheduler=$3" "seed=range(0,$SEEDS)" progress=false || status=1
}
for family in $FAMILIES; do
    # "tasks|curves": the family's first MAX_TASKS tasks and whether its table has
    # learning curves (more than one fidelity); nothing (and the reason on stderr) if the
    # family is not registered or its data is missing
    found=$("$PYTHON" -c '
import sys
from simtune.blackboxes.repository import BENCHMARKS, available, load_shared, status
family, limit = sys.argv[1], int(sys.argv[2])
b = BENCHMARKS.get(family)
if b is None:
    sys.exit(f"reproduce: benchmark {family} is not registered; left out")
if not available(family, b.tasks[0]):
    sys.exit(f"reproduce: {family} left out: {status(family, b.tasks[0])}")
curves = len(load_shared(family, b.tasks[0]).fidelities) > 1
print(",".join(b.tasks[:limit] if limit > 0 else b.tasks) + "|" + ("yes" if curves else "no"))
' "$family" "$MAX_TASKS") || true
    if [ -z "$found" ]; then
        status=1
        continue
    fi
    tasks=${found%|*}
    curves=${found#*|}
    swept="$swept $family"
    start=$(date +%s)
    if [ -n "$SINGLE" ]; then
        sweep "$family" "$tasks" "$SINGLE" single_fidelity
        sf_dirs="$sf_dirs $OUT/$family/single_fidelity"
    fi
    if [ -n "$MULTI" ] && [ "$curves" = yes ]; then
        sweep "$family" "$tasks" "$MULTI" multi_fidelity
        mf_dirs="$mf_dirs $OUT/$family"
    elif [ -n "$MULTI" ]; then
        echo "reproduce: $family has one fidelity (no learning curves): $MULTI left out" >&2
    fi
    echo "$family $(($(date +%s) - start)) s" | tee -a "$OUT/timings.txt" >&2
done
echo "all $(($(date +%s) - start_all)) s" | tee -a "$OUT/timings.txt" >&2

analyse() {  # out dir...
    local out=$1
    shift
    "$PYTHON" analysis/plot_results.py "$@" --out "$out" --baseline random --x time --agg iqm \
        --reference median --budget-fractions 0.25 0.5 1.0
}
# the single-fidelity schedulers on every table, every scheduler on the tables with
# learning curves, then each family on its own (which methods win where)
if [ -n "$sf_dirs" ]; then
    analyse "$RESULTS" $sf_dirs
fi
# (one curve family among several: its RESULTS/<family>/ is that analysis)
n_swept=$(echo $swept | wc -w)
if [ -n "$mf_dirs" ] && { [ "$n_swept" -eq 1 ] || [ "$(echo $mf_dirs | wc -w)" -gt 1 ]; }; then
    analyse "$RESULTS/multi_fidelity" $mf_dirs > /dev/null
fi
if [ "$n_swept" -gt 1 ]; then
    for family in $swept; do
        analyse "$RESULTS/$family" "$OUT/$family" > /dev/null
    done
fi
exit $status
