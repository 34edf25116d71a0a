"""Runs one PythonBackend trial: `python -m simtune.core.backends._runner TRIAL_DIR FUNCTION_PKL
--checkpoint-dir DIR`; the config comes from TRIAL_DIR/config.json."""

from __future__ import annotations

import json
import pickle
import sys
from pathlib import Path

from simtune.core.report import CHECKPOINT_ARG, run_trial


def main(argv: list[str]) -> None:
    if len(argv) != 4 or argv[2] != CHECKPOINT_ARG:
        print(
            "usage: python -m simtune.core.backends._runner TRIAL_DIR FUNCTION_PKL "
            f"{CHECKPOINT_ARG} DIR",
            file=sys.stderr,
        )
        raise SystemExit(2)
    trial_dir, function_pkl, checkpoint_dir = Path(argv[0]), Path(argv[1]), argv[3]
    config = json.loads((trial_dir / "config.json").read_text())
    fn = pickle.loads(function_pkl.read_bytes())  # written by cloudpickle
    run_trial(fn, config, checkpoint_dir)


if __name__ == "__main__":
    main(sys.argv[1:])
