"""Conditional spaces and forbidden clauses: the Space, its JSON and validation, the
encodings' imputation, and the grid of valid points (core/space.py, core/conditions.py,
core/encoding.py, core/schedulers/pool.py)."""

import json

import numpy as np
import pytest

from simtune.core.encoding import INACTIVE_CODE, Columns, Coords, decode, encode
from simtune.core.schedulers.pool import FiniteConfigs
from simtune.core.space import Space, choice, loguniform, randint, uniform

SPEC = {
    "optimizer": {"type": "choice", "categories": ["sgd", "adam"]},
    "lr": {"type": "loguniform", "low": 0.001, "high": 0.1},
    "momentum": {"type": "uniform", "low": 0.0, "high": 0.99, "condition": {"optimizer": "sgd"}},
    "beta1": {"type": "uniform", "low": 0.8, "high": 0.999, "condition": {"optimizer": "adam"}},
}


def nested() -> Space:
    """layers 1-3; units2 when layers >= 2, units3 when layers == 3 (nested: units3's
    parent is conditional too, through `deep`), and a forbidden clause."""
    return Space(
        {
            "layers": randint(1, 3),
            "units2": choice([16, 32]),
            "deep": choice(["yes", "no"]),
            "units3": choice([16, 32]),
            "lr": loguniform(1e-3, 1e-1),
        },
        conditions={
            "units2": {"layers": [2, 3]},
            "deep": {"units2": 32},
            "units3": {"deep": "yes", "layers": 3},
        },
        forbidden=[{"units2": 16, "layers": 3}],
    )


def test_a_configuration_holds_exactly_its_active_hyperparameters():
    space = Space.from_dict(SPEC)
    configs = space.sample(np.random.default_rng(0), 400)
    for config in configs:
        space.validate(config)
        want = {"optimizer", "lr", "momentum" if config["optimizer"] == "sgd" else "beta1"}
        assert set(config) == want
    branches = {c["optimizer"] for c in configs}
    assert branches == {"sgd", "adam"}


def test_nested_conditions_and_forbidden_clauses_in_samples():
    space = nested()
    configs = space.sample(np.random.default_rng(1), 2000)
    for config in configs:
        space.validate(config)
        assert not (config.get("units2") == 16 and config["layers"] == 3)
        if "units3" in config:
            assert config["layers"] == 3 and config["deep"] == "yes" and config["units2"] == 32
    assert any("units3" in c for c in configs)
    assert any("deep" in c and "units3" not in c for c in configs)


def test_flat_space_samples_as_before():
    """No conditions: the draws are the domains' own, in order (the traces depend on it)."""
    flat = Space({"x": uniform(0, 1), "o": choice(["a", "b"])})
    rng = np.random.default_rng(3)
    want_x, want_o = uniform(0, 1).sample(rng, 5), choice(["a", "b"]).sample(rng, 5)
    got = flat.sample(np.random.default_rng(3), 5)
    assert [c["x"] for c in got] == want_x and [c["o"] for c in got] == want_o


def test_json_round_trip_keeps_conditions_and_forbidden():
    space = nested()
    text = space.to_json()
    back = Space.from_json(text)
    assert back == space
    assert json.loads(text)["forbidden"] == [{"units2": 16, "layers": 3}]
    assert json.loads(text)["units2"]["condition"] == {"layers": [2, 3]}
    assert Space.from_dict(SPEC).to_dict() == SPEC
    assert back != Space({k: space[k] for k in space})  # conditions count in equality


@pytest.mark.parametrize(
    "spec, words",
    [
        ({**SPEC, "beta1": {**SPEC["beta1"], "condition": {"optimiser": "adam"}}},
         ["beta1", "'optimiser'", "did you mean 'optimizer'"]),
        ({**SPEC, "beta1": {**SPEC["beta1"], "condition": {"optimizer": "adamw"}}},
         ["beta1", "optimizer='adamw' can never hold", "not one of"]),
        ({"a": {"type": "choice", "categories": [1, 2], "condition": {"b": 1}},
          "b": {"type": "choice", "categories": [1, 2], "condition": {"a": 1}}},
         ["cycle", "a -> b -> a"]),
        ({"a": {"type": "choice", "categories": [1, 2], "condition": {"a": 1}}},
         ["'a'", "names itself"]),
        ({**SPEC, "beta1": {**SPEC["beta1"], "condition": "adam"}},
         ["beta1", "a condition is a mapping"]),
        ({**SPEC, "forbidden": [{"optimizer": "rmsprop"}]},
         ["forbidden clause 1", "'rmsprop'"]),
        ({**SPEC, "forbidden": [{"lr_schedule": "cyclic"}]},
         ["forbidden clause 1", "'lr_schedule'", "not a hyperparameter"]),
    ],
)
def test_a_bad_condition_or_clause_is_one_line(spec, words):
    with pytest.raises(ValueError) as e:
        Space.from_dict(spec)
    line = str(e.value)
    assert "\n" not in line
    for word in words:
        assert word in line


def test_validate_names_inactive_missing_and_forbidden():
    space = Space.from_dict({**SPEC, "forbidden": [{"optimizer": "adam", "lr": 0.1}]})
    cases = [
        ({"optimizer": "adam", "lr": 0.01, "beta1": 0.9, "momentum": 0.5},
         "hyperparameter 'momentum' is inactive here (it is active only when optimizer=sgd)"),
        ({"optimizer": "sgd", "lr": 0.01},
         "missing hyperparameter 'momentum' (active because optimizer=sgd)"),
        ({"optimizer": "adam", "lr": 0.1, "beta1": 0.9}, "is forbidden"),
    ]
    for config, words in cases:
        with pytest.raises(ValueError) as e:
            space.validate(config)
        assert words in str(e.value)
    space.validate({"optimizer": "adam", "lr": 0.05, "beta1": 0.9})


def test_a_callable_forbidden_clause_is_never_sampled_and_not_read_back():
    space = Space({"x": uniform(0, 1), "y": uniform(0, 1)}, forbidden=[lambda c: c["x"] > c["y"]])
    configs = space.sample(np.random.default_rng(0), 300)
    assert all(c["x"] <= c["y"] for c in configs)
    with pytest.raises(ValueError, match="Python callable"):
        Space.from_dict(space.to_dict())


def test_complete_fills_what_a_changed_parent_activates():
    space = nested()
    rng = np.random.default_rng(0)
    child = space.complete({"layers": 3, "lr": 0.01}, rng)
    assert {"units2", "deep"} <= set(child)
    assert ("units3" in child) == (child["units2"] == 32 and child["deep"] == "yes")
    shrunk = space.complete({**child, "layers": 1}, rng)
    assert set(shrunk) == {"layers", "lr"}


def test_grid_enumerates_only_valid_combinations():
    space = Space(
        {"o": choice(["a", "b"]), "x": choice([1, 2, 3]), "y": choice([4, 5]), "c": 7},
        conditions={"x": {"o": "a"}, "y": {"o": "b"}},
        forbidden=[{"o": "a", "x": 3}],
    )
    grid = space.grid()
    assert grid == [{"o": "a", "x": 1, "c": 7}, {"o": "a", "x": 2, "c": 7},
                    {"o": "b", "y": 4, "c": 7}, {"o": "b", "y": 5, "c": 7}]
    assert space.size() == 4
    finite = FiniteConfigs(space)
    assert len(finite) == 4
    assert sorted(map(space.key, (finite.config(r) for r in range(4)))) == sorted(
        map(space.key, grid))
    assert finite.row({"o": "b", "y": 5, "c": 7}) is not None
    assert finite.row({"o": "a", "x": 3, "c": 7}) is None


def test_encoding_imputes_inactive_coordinates_and_decodes_back():
    space = Space.from_dict(SPEC)
    sgd = {"optimizer": "sgd", "lr": 0.01, "momentum": 0.5}
    adam = {"optimizer": "adam", "lr": 0.01, "beta1": 0.9}
    x_sgd, x_adam = encode(space, sgd), encode(space, adam)
    # [one-hot optimizer (2), lr, momentum, beta1]
    assert x_sgd[4] == INACTIVE_CODE and x_adam[3] == INACTIVE_CODE
    assert 0 <= x_sgd[3] <= 1 and 0 <= x_adam[4] <= 1
    for config, x in ((sgd, x_sgd), (adam, x_adam)):
        back = decode(space, x)
        assert list(back) == list(config) and back["optimizer"] == config["optimizer"]
        assert [back[k] for k in list(config)[1:]] == pytest.approx(list(config.values())[1:])
    cols = Columns(space).encode_many([sgd, adam])
    assert np.isnan(cols[0, 3]) and np.isnan(cols[1, 2])
    assert set(Columns(space).decode(cols[1])) == set(adam)
    with pytest.raises(KeyError):  # an unconditional name is never imputed
        encode(space, {"optimizer": "sgd", "momentum": 0.5})


def test_coords_rows_are_valid_configurations_after_sampling_and_mutation():
    space = nested()
    coords = Coords(space)
    rng = np.random.default_rng(0)
    x = coords.sample(rng, 500)
    for _ in range(3):
        for row in x:
            config = decode(space, row)
            space.validate(config)
            assert np.allclose(encode(space, config), row, rtol=0, atol=1e-12)  # as encode
        x = coords.mutate(x, rng, 0.3)
    flips = coords.mutate(x, rng, 0.3)
    layers_changed = decode_all(space, flips, "layers") != decode_all(space, x, "layers")
    assert layers_changed.any()


def decode_all(space: Space, x: np.ndarray, name: str) -> np.ndarray:
    return np.array([decode(space, row).get(name) for row in x])


def test_the_examples_of_docs_spaces_md_are_what_they_say():
    import re
    from pathlib import Path

    import yaml

    text = (Path(__file__).resolve().parents[1] / "docs" / "spaces.md").read_text()
    blocks = re.findall(r"```(yaml|python)\n(.*?)```", text, re.S)
    yamls = [Space.from_dict(yaml.safe_load(b)) for kind, b in blocks if kind == "yaml"]
    namespace: dict = {}
    exec(next(b for kind, b in blocks if kind == "python"), namespace)
    assert namespace["space"] == yamls[0] and yamls[0].is_conditional
    assert yamls[1].is_forbidden({"optimizer": "adam", "lr_schedule": "cyclic"})
    assert not yamls[1].is_forbidden({"optimizer": "sgd", "lr_schedule": "cyclic"})
