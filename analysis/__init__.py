"""Read the result files of many runs, aggregate them, and plot or tabulate them.

This package reads only files written by the Tuner (``results.csv`` and
``metadata.json`` in each run directory); it never imports ``core`` or
``blackboxes``. Entry points: ``python analysis/plot_results.py DIR [DIR ...]`` and
``python analysis/run_view.py RUN_DIR``.
Modules: load (runs -> DataFrame), variants (a method's label and family), curves
(common grid, normalized regret), aggregate (IQM, stratified bootstrap, ranks: pure
functions), stats (Friedman, Wilcoxon-Holm over tasks, cliques), tables, styles
(colours, panels, axes), figures, cd (critical-difference diagram), mo (Pareto fronts,
hypervolume), run_view (one run) and plot_results (CLI). The bookkeeping of sweeps
lives with the entry point, in experiments/sweeps/.
"""
