from __future__ import annotations

import pytest

from flow_notebook.core.errors import ValidationError
from flow_notebook.providers.mithril.api.dto import InstanceTypeModel
from flow_notebook.providers.mithril.domain.caches import DiskTtlCache, TtlCache
from flow_notebook.providers.mithril.domain.instance_types import InstanceTypeCatalog


def _itype(fid, name, gpus, gpu_type):
    return InstanceTypeModel(
        fid=fid,
        name=name,
        num_cpus=8,
        cpu_type="Intel",
        ram_gb=64,
        num_gpus=gpus,
        gpu_type=gpu_type,
        gpu_memory_gb=80,
        gpu_socket="SXM5",
        local_storage_gb=100,
        ib_count=0,
        bridge_count=0,
    )


CATALOGUE = [
    _itype("it_h100x8", "h100.80gb.sxm", 8, "H100"),
    _itype("it_h100x1", "h100.80gb.pcie", 1, "H100"),
    _itype("it_a100x8a", "a100.40gb.sxm", 8, "A100"),
    _itype("it_a100x8b", "a100.80gb.sxm", 8, "A100"),
]


class FakeTypesApi:
    def __init__(self):
        self.calls = 0

    def list_instance_types(self):
        self.calls += 1
        return list(CATALOGUE)


def _catalog(api=None):
    return InstanceTypeCatalog(api or FakeTypesApi(), TtlCache(ttl_seconds=60))


@pytest.mark.parametrize(
    ("spec", "fid"),
    [
        ("it_h100x8", "it_h100x8"),
        ("8xh100", "it_h100x8"),
        ("8xH100", "it_h100x8"),
        ("h100.80gb.pcie", "it_h100x1"),
        ("h100", "it_h100x1"),
        ("a100.80gb.sxm", "it_a100x8b"),
    ],
)
def test_resolve_accepts_ids_display_names_catalogue_names_and_bare_gpus(spec, fid):
    assert _catalog().resolve(spec) == fid


def test_resolve_ambiguous_display_name_names_the_choices():
    with pytest.raises(ValidationError, match="ambiguous: a100.40gb.sxm .*a100.80gb.sxm"):
        _catalog().resolve("8xa100")


def test_resolve_unknown_type_lists_known_types():
    with pytest.raises(ValidationError, match="unknown instance type 'tpu'; known types: 1xh100"):
        _catalog().resolve("tpu")


def test_display_name_falls_back_to_the_id():
    catalog = _catalog()
    assert catalog.display_name("it_h100x8") == "8xh100"
    assert catalog.display_name("it_unknown") == "it_unknown"


def test_catalogue_is_fetched_once_and_reloaded_after_invalidate():
    api = FakeTypesApi()
    catalog = _catalog(api)
    catalog.all()
    catalog.resolve("8xh100")
    catalog.display_name("it_h100x1")
    assert api.calls == 1
    catalog.invalidate()
    catalog.all()
    assert api.calls == 2


def test_disk_cached_catalogue_is_not_refetched_by_a_new_kernel(tmp_path):
    first_api, second_api = FakeTypesApi(), FakeTypesApi()
    first = DiskTtlCache(tmp_path / "c", ttl_seconds=3600)
    InstanceTypeCatalog(first_api, first).all()
    first.close()
    second = DiskTtlCache(tmp_path / "c", ttl_seconds=3600)
    try:
        assert InstanceTypeCatalog(second_api, second).resolve("8xh100") == "it_h100x8"
    finally:
        second.close()
    assert (first_api.calls, second_api.calls) == (1, 0)


# --- Mithril's real catalogue, as the sandbox serves it -----------------------------


def _real_catalog():
    from flow_notebook.sandbox.catalog import INSTANCE_TYPES

    class RealTypesApi:
        def list_instance_types(self):
            return [InstanceTypeModel.model_validate(t.to_api()) for t in INSTANCE_TYPES]

    return InstanceTypeCatalog(RealTypesApi(), TtlCache(ttl_seconds=60))


@pytest.mark.parametrize(
    ("spec", "name"),
    [
        ("a100", "a100-80gb.sxm.1x"),
        ("A100", "a100-80gb.sxm.1x"),
        ("1xa100", "a100-80gb.sxm.1x"),
        ("a100x2", "a100-80gb.sxm.2x"),
        ("2xa100", "a100-80gb.sxm.2x"),
        ("2 x a100", "a100-80gb.sxm.2x"),
        ("A100x4", "a100-80gb.sxm.4x"),
        ("8xa100", "a100-80gb.sxm.8x"),
        ("8xh100", "h100-80gb.sxm.8x"),
        ("h100", "h100-80gb.sxm.8x"),  # only 8x exists
        ("h100x8", "h100-80gb.sxm.8x"),
        ("h200", "h200.8x"),
        ("b200", "b200-192gb.1x"),
        ("b200x4", "b200-192gb.4x"),
        ("neb-b200.sxm.8x", "neb-b200.sxm.8x"),
        ("a100-80gb.sxm.2x", "a100-80gb.sxm.2x"),
        ("v6e-4", "v6e-4"),
        ("it_TiAPxzKNi4xO0IAr", "a100-80gb.sxm.2x"),
    ],
)
def test_user_spellings_resolve_against_the_real_catalogue(spec, name):
    catalog = _real_catalog()
    assert catalog.get(catalog.resolve(spec)).name == name


def test_the_two_h100_types_of_one_name_are_one_choice_and_twins():
    catalog = _real_catalog()
    first = catalog.resolve("8xh100")
    assert first == "it_5ECSoHQjLBzrp5YM"
    assert catalog.resolve("h100-80gb.sxm.8x") == first
    assert catalog.twins(first) == ["it_5ECSoHQjLBzrp5YM", "it_XqgKWbhZ5gznAYsG"]
    assert catalog.twins("it_XqgKWbhZ5gznAYsG") == ["it_XqgKWbhZ5gznAYsG", "it_5ECSoHQjLBzrp5YM"]
    assert catalog.resolve("it_XqgKWbhZ5gznAYsG") == "it_XqgKWbhZ5gznAYsG"
    assert catalog.twins("it_RrgkIZz6c9BZu5gi") == ["it_RrgkIZz6c9BZu5gi"]


def test_a_count_that_does_not_exist_lists_what_does():
    with pytest.raises(ValidationError) as caught:
        _real_catalog().resolve("3xa100")
    message = str(caught.value)
    assert "unknown instance type '3xa100'" in message
    assert "1xa100" in message and "2xa100" in message and "8xh100" in message
    assert "\n" not in message


def test_two_different_types_of_one_shape_are_ambiguous_naming_both():
    with pytest.raises(ValidationError, match=r"ambiguous: b200-192gb.8x .*neb-b200.sxm.8x"):
        _real_catalog().resolve("8xb200")


def test_bare_gpu_with_several_counts_and_no_1x_names_the_counts():
    catalogue = [
        _itype("it_x2", "x-2", 2, "X9"),
        _itype("it_x4", "x-4", 4, "X9"),
    ]

    class Api:
        def list_instance_types(self):
            return catalogue

    catalog = InstanceTypeCatalog(Api(), TtlCache(ttl_seconds=60))
    with pytest.raises(ValidationError, match=r"'x9' comes in 2xx9, 4xx9; say which"):
        catalog.resolve("x9")


def test_ids_are_matched_exactly_so_another_casing_is_unknown():
    with pytest.raises(ValidationError, match="unknown instance type 'IT_H100X8'"):
        _catalog().resolve("IT_H100X8")
