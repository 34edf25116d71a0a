"""Read the result files of many runs, aggregate them, and plot or tabulate them.

This package reads only files written by the Tuner (``results.csv`` and
``metadata.json`` in each run directory); it never imports ``core`` or
``blackboxes``. Entry point: ``python analysis/plot_results.py DIR [DIR ...]``.
Modules: load (runs -> DataFrame), curves (common grid, normalized regret),
aggregate (IQM, bootstrap, ranks: pure functions), tables, figures, plot_results (CLI),
and sweep (the bookkeeping of a Hydra sweep in its run directories: completion,
failed.txt, progress).
"""
