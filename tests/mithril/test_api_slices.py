"""The ``*Api`` Protocols are slices of ``ApiClient``: each method must match it exactly.

Services take the narrow Protocol of the endpoints they call; these slices are
written by hand, so this test keeps every one of them in step with ``ApiClient``
(names, parameters, defaults and resolved annotations).
"""

import importlib
import inspect
import pkgutil
import typing

import pytest

import flow_notebook.providers.mithril as mithril
from flow_notebook.providers.mithril.api.client import ApiClient


def _api_slices() -> list[type]:
    found = []
    for info in pkgutil.walk_packages(mithril.__path__, f"{mithril.__name__}."):
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if (
                name.endswith("Api")
                and inspect.isclass(value)
                and value.__module__ == module.__name__
                and getattr(value, "_is_protocol", False)
            ):
                found.append(value)
    return found


SLICES = _api_slices()


def _methods(proto: type) -> list[str]:
    return [n for n, v in vars(proto).items() if inspect.isfunction(v) and not n.startswith("_")]


def _shape(function: typing.Callable[..., object]) -> list[tuple[str, object, object, object]]:
    hints = typing.get_type_hints(function)
    signature = inspect.signature(function)
    params = [(p.name, p.kind, p.default, hints.get(p.name)) for p in signature.parameters.values()]
    return [*params, ("return", None, None, hints.get("return"))]


def test_the_slices_are_found():
    names = {proto.__name__ for proto in SLICES}
    assert {"AccountApi", "BidsApi", "VolumesApi", "InitApi"} <= names


@pytest.mark.parametrize("proto", SLICES, ids=lambda p: f"{p.__module__}.{p.__name__}")
def test_each_slice_method_matches_api_client(proto):
    methods = _methods(proto)
    assert methods, f"{proto.__name__} declares no methods"
    for name in methods:
        assert hasattr(ApiClient, name), f"{proto.__name__}.{name} is not an ApiClient method"
        assert _shape(getattr(proto, name)) == _shape(getattr(ApiClient, name)), (
            f"{proto.__name__}.{name} differs from ApiClient.{name}"
        )


def test_a_drifted_slice_is_caught():
    class DriftedApi(typing.Protocol):
        def get_bid(self, bid_fid: int) -> object: ...

    assert _shape(DriftedApi.get_bid) != _shape(ApiClient.get_bid)
