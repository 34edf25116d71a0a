"""What training code calls to report metrics: `reporter(epoch=3, val_accuracy=0.91)`."""

from __future__ import annotations

from typing import Any


class Reporter:
    """Receives one call per fidelity step from a training function or script.

    Every call names the fidelity (e.g. `epoch=3`) and the metrics reached there.
    Backends and tools subclass it to forward reports where they are needed.

    Example:
        >>> def train(config: dict, reporter: Reporter) -> None:
        ...     for epoch in range(1, 11):
        ...         reporter(epoch=epoch, val_accuracy=0.5 + epoch / 100)
    """

    def __call__(self, **metrics: Any) -> None:
        raise NotImplementedError
