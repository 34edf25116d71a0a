import json

import numpy as np
import pytest

from simtune.core.encoding import decode, encode, n_dims
from simtune.core.space import (
    Space,
    choice,
    finrange,
    logfinrange,
    lograndint,
    loguniform,
    ordinal,
    randint,
    uniform,
)


@pytest.fixture
def space():
    return Space(
        {
            "lr": loguniform(1e-4, 1e-1),
            "momentum": uniform(0.1, 0.99),
            "layers": randint(1, 4),
            "units": lograndint(16, 1024),
            "opt": choice(["sgd", "adam", "rmsprop"]),
            "size": ordinal(["small", "medium", "large"]),
            "dropout": finrange(0.0, 0.6, 4),
            "batch": logfinrange(8, 512, 7, cast_int=True),
            "epochs": 10,
        }
    )


def test_samples_stay_in_domain(space):
    rng = np.random.default_rng(0)
    configs = space.sample(rng, 2000)
    for config in configs:
        space.validate(config)
    lr = np.array([c["lr"] for c in configs])
    assert lr.min() >= 1e-4 and lr.max() <= 1e-1
    # log scale: about half the mass below the geometric midpoint
    assert 0.45 < np.mean(lr < np.sqrt(1e-4 * 1e-1)) < 0.55
    layers = {c["layers"] for c in configs}
    assert layers == {1, 2, 3, 4}  # inclusive bounds
    units = np.array([c["units"] for c in configs])
    assert units.min() >= 16 and units.max() <= 1024 and np.mean(units < 128) > 0.4
    assert {c["batch"] for c in configs} == {8, 16, 32, 64, 128, 256, 512}
    assert all(c["epochs"] == 10 for c in configs)


def test_sampling_is_seeded(space):
    a = space.sample(np.random.default_rng(7), 5)
    b = space.sample(np.random.default_rng(7), 5)
    c = space.sample(np.random.default_rng(8), 5)
    assert a == b and a != c


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"lr": 0.5}, "hyperparameter 'lr': value 0.5 is outside [0.0001, 0.1]"),
        ({"layers": 2.5}, "hyperparameter 'layers': expected an integer, got float 2.5"),
        ({"layers": 7}, "hyperparameter 'layers': value 7 is outside [1, 4]"),
        ({"momentum": "high"}, "hyperparameter 'momentum': expected a number, got str 'high'"),
        (
            {"opt": "adagrad"},
            "hyperparameter 'opt': value 'adagrad' is not one of ['sgd', 'adam', 'rmsprop']",
        ),
        ({"epochs": 11}, "hyperparameter 'epochs' is the constant 10, got 11"),
        ({"colour": "red"}, "unknown hyperparameter 'colour'"),
    ],
)
def test_bad_configs_name_the_problem(space, change, message):
    config = {**space.sample(np.random.default_rng(0)), **change}
    with pytest.raises(ValueError) as err:
        space.validate(config)
    assert message in str(err.value)


def test_missing_hyperparameter(space):
    config = space.sample(np.random.default_rng(0))
    del config["opt"]
    with pytest.raises(
        ValueError, match=r"missing hyperparameter 'opt'; expected a value in choice"
    ):
        space.validate(config)


def test_json_round_trip(space):
    text = space.to_json()
    again = Space.from_json(text)
    assert again == space
    assert json.loads(again.to_json()) == json.loads(text)
    rng1, rng2 = np.random.default_rng(3), np.random.default_rng(3)
    assert again.sample(rng1, 10) == space.sample(rng2, 10)


def test_from_json_rejects_unknown_type():
    with pytest.raises(ValueError, match="unknown domain type 'gaussian'"):
        Space.from_dict({"x": {"type": "gaussian"}})


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"type": "choice", "categroies": ["a", "b"]},
         "hyperparameter 'x': type choice takes no key 'categroies' (did you mean "
         "'categories'?); its keys: type, categories"),
        ({"type": "uniform", "low": 0, "high": 1, "log": True},
         "hyperparameter 'x': type uniform takes no key 'log' (for a log scale, write type: "
         "loguniform); its keys: type, low, high"),
        ({"type": "finrange", "low": 0, "high": 1, "size": 3, "castint": True},
         "did you mean 'cast_int'?); its keys: type, low, high, size, cast_int"),
        ({"type": "constant", "value": 3, "vlaue": 4}, "type constant takes no key 'vlaue'"),
        ({"type": "ordinal"}, "hyperparameter 'x': type ordinal needs the key 'categories'"),
        ({"type": "randint", "low": 1, "hihg": 5},
         "type randint takes no key 'hihg' (did you mean 'high'?)"),
    ],
)
def test_from_dict_refuses_a_key_its_domain_does_not_take(spec, expected):
    """A misspelt key was ignored (an optional one) or a bare KeyError (a required one)."""
    with pytest.raises(ValueError) as info:
        Space.from_dict({"y": {"type": "uniform", "low": 0, "high": 1}, "x": spec})
    assert expected in str(info.value)
    assert "\n" not in str(info.value)


def test_encode_decode(space):
    rng = np.random.default_rng(1)
    assert n_dims(space) == 1 + 1 + 1 + 1 + 3 + 1 + 1 + 1
    for config in space.sample(rng, 200):
        x = encode(space, config)
        assert x.shape == (n_dims(space),)
        assert np.all((x >= 0) & (x <= 1))
        back = decode(space, x)
        assert back["opt"] == config["opt"] and back["layers"] == config["layers"]
        assert back["batch"] == config["batch"] and back["size"] == config["size"]
        assert back["lr"] == pytest.approx(config["lr"], rel=1e-9)
        space.validate(back)
    # any point of the cube decodes to a valid config
    for u in rng.uniform(size=(100, n_dims(space))):
        space.validate(decode(space, u))


def test_int_and_float_categories_are_one():
    space = Space({"alpha": choice([1e-8, 1])})
    space.validate({"alpha": 1.0})
    assert space.key({"alpha": 1.0}) == space.key({"alpha": 1})
    with pytest.raises(ValueError, match="is not one of"):
        space.validate({"alpha": True})


def test_size():
    assert Space({"a": choice([1, 2, 3]), "b": randint(0, 4), "c": 1}).size() == 15
    assert Space({"a": uniform(0, 1)}).size() is None


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: uniform(1, 0), "low=1 must not exceed high=0"),
        (lambda: loguniform(0, 1), "log scale needs low > 0"),
        (lambda: randint(0.5, 3), "bounds must be integers"),
        (lambda: choice([]), "needs at least one category"),
        (lambda: choice(["a", "a"]), "categories must be distinct"),
    ],
)
def test_bad_domains(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_interval_to_unit_and_from_unit_are_the_scale_of_encode():
    lr = loguniform(1e-4, 1e-1)
    assert lr.to_unit(1e-4) == 0.0 and lr.to_unit(1e-1) == 1.0
    assert lr.to_unit(1e-2) == pytest.approx(2 / 3)  # two decades of three: log scale
    assert lr.from_unit(np.array([0.0, 2 / 3])) == pytest.approx([1e-4, 1e-2])
    assert lr.encode(1e-3) == [lr.to_unit(1e-3)]
    assert randint(3, 3).to_unit(np.array([3.0, 3.0])).tolist() == [0.5, 0.5]
    assert randint(0, 10).from_unit(0.55) == 5.5  # neither rounded nor clipped: decode does
    assert randint(0, 10).decode([0.55]) == 6
    assert loguniform(1.0, 100.0).evenly_spaced(3) == pytest.approx([1.0, 10.0, 100.0])
