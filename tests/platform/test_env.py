"""The typed environment readers fail loudly on bad values."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from moodsaas.env import env_bool, env_choice, env_int, env_list, env_required, env_str


def test_unset_and_empty_variables_give_the_default() -> None:
    assert env_str("X", "d", environ={}) == "d"
    assert env_bool("X", True, environ={"X": "  "}) is True
    assert env_int("X", 5, environ={}) == 5
    assert env_list("X", ["a"], environ={}) == ["a"]


@pytest.mark.parametrize(("raw", "value"), [("1", True), ("TRUE", True), ("yes", True), ("off", False), ("0", False)])
def test_booleans_are_parsed(raw: str, value: bool) -> None:
    assert env_bool("FLAG", not value, environ={"FLAG": raw}) is value


def test_a_bad_boolean_names_the_variable() -> None:
    with pytest.raises(ImproperlyConfigured, match=r"DEBUG='maybe' is not a boolean"):
        env_bool("DEBUG", False, environ={"DEBUG": "maybe"})


def test_integers_are_parsed_and_bounded() -> None:
    assert env_int("N", 0, environ={"N": " 42 "}) == 42
    with pytest.raises(ImproperlyConfigured, match="N='4x' is not an integer"):
        env_int("N", 0, environ={"N": "4x"})
    with pytest.raises(ImproperlyConfigured, match="N=-1 is below the minimum 0"):
        env_int("N", 0, minimum=0, environ={"N": "-1"})
    with pytest.raises(ImproperlyConfigured, match="N=70000 is above the maximum 65535"):
        env_int("N", 0, maximum=65535, environ={"N": "70000"})


def test_lists_are_split_on_commas_and_reject_empty_items() -> None:
    assert env_list("HOSTS", [], environ={"HOSTS": "a.test, b.test"}) == ["a.test", "b.test"]
    with pytest.raises(ImproperlyConfigured, match="empty item"):
        env_list("HOSTS", [], environ={"HOSTS": "a.test,,b.test"})


def test_choices_and_required_values_fail_loudly() -> None:
    assert env_choice("MODE", "a", ("a", "b"), environ={"MODE": "b"}) == "b"
    with pytest.raises(ImproperlyConfigured, match="MODE='c' is not one of a, b"):
        env_choice("MODE", "a", ("a", "b"), environ={"MODE": "c"})
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY must be set"):
        env_required("SECRET_KEY", environ={})
