"""The tabulated-blackbox repository of simtune."""
