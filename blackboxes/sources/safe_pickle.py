"""A restricted unpickler for data files: builtin containers and the numbers they hold.

Unpickling runs whatever a file names (`os.system`, `builtins.eval`, ...), so data
pickles are read with an unpickler that resolves only the classes such records use:
`collections.OrderedDict`, sets, and numpy scalars of a numeric dtype (NATS-Bench keeps
its floats as numpy float64). Anything else is refused with one line naming the file
and what it asked for. Plain dicts, lists, tuples, strings, bytes, ints, floats, bools
and None need no class and always load.

Example:
    >>> with bz2.open("000000.pickle.pbz2", "rb") as f:
    ...     record = load(f, "000000.pickle.pbz2")
"""

from __future__ import annotations

import collections
import pickle
from typing import IO, Any

import numpy as np

_NUMERIC_KINDS = "biuf"  # bool, signed and unsigned integers, floats


def _dtype(spec: Any, align: Any = False, copy: Any = False) -> np.dtype:
    if not isinstance(spec, str) or np.dtype(spec).kind not in _NUMERIC_KINDS:
        raise pickle.UnpicklingError(f"numpy dtype {spec!r} is not a numeric dtype")
    # always a copy, whatever the file asks: the pickle sets its state next, and the
    # shared builtin dtype must never be the one changed
    return np.dtype(spec, align=bool(align), copy=True)


def _plain_numeric(dtype: Any) -> bool:
    return (
        isinstance(dtype, np.dtype)
        and dtype.kind in _NUMERIC_KINDS
        and dtype.fields is None
        and dtype.subdtype is None
        and not dtype.hasobject
    )


def _scalar(dtype: Any, data: Any = None) -> Any:
    if not _plain_numeric(dtype):
        raise pickle.UnpicklingError(f"numpy scalar of dtype {dtype!r} is not numeric")
    if not isinstance(data, bytes) or len(data) != dtype.itemsize:
        raise pickle.UnpicklingError(f"numpy scalar data is not {dtype.itemsize} bytes")
    return np.frombuffer(data, dtype=dtype)[0]


_ALLOWED = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("numpy", "dtype"): _dtype,
    ("numpy.core.multiarray", "scalar"): _scalar,
    ("numpy._core.multiarray", "scalar"): _scalar,
}


class RestrictedUnpickler(pickle.Unpickler):
    """Resolves only the classes of `_ALLOWED`; `where` names the file in errors."""

    def __init__(self, file: IO[bytes], where: str) -> None:
        super().__init__(file)
        self.where = where

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"{self.where}: refused to unpickle {module}.{name}; data records may hold "
                "only builtin containers and numbers (is this file what it claims to be?)"
            ) from None


def load(file: IO[bytes], where: str) -> Any:
    """The object pickled in `file`, built only from builtin containers and numbers.

    ValueError (one line naming `where`) for any other content or a damaged pickle.
    """
    try:
        return RestrictedUnpickler(file, where).load()
    except pickle.UnpicklingError as e:
        text = str(e)
        raise ValueError(text if text.startswith(where) else f"{where}: {text}") from None
    except (EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError) as e:
        raise ValueError(f"{where}: not a readable pickle ({type(e).__name__}: {e})") from None
