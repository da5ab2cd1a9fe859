"""flow_helpers: what the sub-entry flows share."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings, strategies as st

from custom_components.flexmeasures.flow_helpers import option_values

_IDS = st.one_of(st.integers(min_value=0, max_value=10**9), st.text(max_size=8))
_VALUES = st.one_of(
    st.none(), _IDS, st.lists(_IDS, max_size=4), st.floats(allow_nan=False)
)


@settings(max_examples=200, deadline=None)
@given(data=st.dictionaries(st.sampled_from("abcd"), _VALUES, max_size=4))
def test_option_values_are_strings_and_leave_the_rest(data: dict[str, Any]) -> None:
    """The ids under the keys turn into strings (item by item); nothing else moves."""
    keys = ("a", "b")
    values = option_values(data, keys)
    assert values.keys() == data.keys()
    for key, value in data.items():
        if key not in keys or value is None:
            assert values[key] == value
        elif isinstance(value, list):
            assert values[key] == [str(item) for item in value]
        else:
            assert values[key] == str(value)
    assert option_values(values, keys) == values  # strings stay as they are
