"""simtune's entry point and what wires configuration to objects.

run.py (the Hydra entry point), assemble.py (one function builds a run's benchmark,
scheduler, backend, stop and Tuner), sweeps/ (Hydra's sweeper, sweep bookkeeping and the
command-line checks) and plugins/ (the sweeper as a Hydra plugin). The folders training/,
examples/, speed/ and quality/ hold scripts, not modules of this package.
"""
