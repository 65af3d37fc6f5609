"""MithrilProvider: a thin facade that satisfies IProvider and every extension it claims."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from flow_notebook.core import provider_interfaces as pi
from flow_notebook.core.config import FlowConfig
from flow_notebook.core.errors import AuthenticationError, ConfigurationError, ValidationError
from flow_notebook.core.models import TaskConfig
from flow_notebook.providers.mithril import provider as provider_module
from flow_notebook.providers.mithril.provider import MithrilProvider

EXTENSIONS = [
    pi.IActiveTasks,
    pi.IPausable,
    pi.IResumableLogs,
    pi.IVolumeMounting,
    pi.IProjects,
    pi.IInstanceCatalog,
    pi.ISSHKeyManagement,
    pi.IInitInterface,
    pi.ISSHTunnels,
    pi.ICodeSync,
    pi.IPriceHistory,
    pi.ISetupProgress,
    pi.IClosable,
]


def _config(tmp_path: Path, **changes) -> FlowConfig:
    base = FlowConfig(home=tmp_path, provider="mithril", project="test", api_url="http://x")
    return base.with_overrides(api_key="fkey_secret", **changes)


@pytest.fixture
def provider(fake, tmp_path):
    built = MithrilProvider.from_config(_config(tmp_path), api=fake.client())
    yield built
    built.close()


def test_provider_is_an_iprovider_and_every_extension(provider):
    assert isinstance(provider, pi.IProvider)
    for protocol in EXTENSIONS:
        assert isinstance(provider, protocol), protocol.__name__


def test_facade_signatures_match_the_protocols_exactly():
    for protocol in [pi.IProvider, pi.IComputeProvider, pi.IStorageProvider, *EXTENSIONS]:
        for name, member in vars(protocol).items():
            if name.startswith("_") or not callable(member):
                continue
            expected = inspect.signature(member)
            actual = inspect.signature(getattr(MithrilProvider, name))
            assert list(actual.parameters) == list(expected.parameters), name
            for param in expected.parameters.values():
                assert actual.parameters[param.name].default == param.default, (name, param)


def test_facade_module_is_small_and_its_methods_hold_no_branching():
    source = Path(provider_module.__file__).read_text()
    assert sum(1 for line in source.splitlines() if line.strip()) < 350
    cls = next(
        node
        for node in ast.parse(source).body
        if isinstance(node, ast.ClassDef) and node.name == "MithrilProvider"
    )
    branches = (ast.If, ast.For, ast.While, ast.Try, ast.With, ast.Match)
    found = [type(node).__name__ for node in ast.walk(cls) if isinstance(node, branches)]
    assert found == []


def test_from_config_without_a_key_says_how_to_set_one(tmp_path):
    config = FlowConfig(home=tmp_path, provider="mithril", project="test")
    with pytest.raises(AuthenticationError) as caught:
        MithrilProvider.from_config(config)
    assert "%flow setup" in str(caught.value) and "MITHRIL_API_KEY" in str(caught.value)


def test_from_config_with_only_a_key_lists_projects_and_asks_for_one(fake, tmp_path):
    config = FlowConfig(home=tmp_path, provider="mithril", api_url="http://x")
    built = MithrilProvider.from_config(config.with_overrides(api_key="fkey_x"), api=fake.client())
    try:
        assert fake.count("GET", "/v2/projects") == 0  # nothing is resolved up front
        with pytest.raises(ConfigurationError, match="no Mithril project") as caught:
            built.list_tasks()
        assert "MITHRIL_PROJECT" in str(caught.value)
        assert isinstance(built.get_init_interface(), pi.IProviderInit)
    finally:
        built.close()


def test_unknown_project_lists_the_projects_of_the_key(fake, tmp_path):
    with pytest.raises(ConfigurationError, match="projects: test"):
        MithrilProvider.from_config(_config(tmp_path, project="nope"), api=fake.client())


def test_project_name_resolves_to_its_id_once_and_is_cached_on_disk(fake, tmp_path):
    MithrilProvider.from_config(_config(tmp_path), api=fake.client()).close()
    MithrilProvider.from_config(_config(tmp_path), api=fake.client()).close()
    assert fake.count("GET", "/v2/projects") == 1


def test_catalogue_calls_delegate_to_the_services(provider, fake):
    assert provider.resolve_instance_type("a100") == "it_RrgkIZz6c9BZu5gi"
    assert provider.normalize_instance_request(8) == ("8xa100", 1, None)
    assert provider.normalize_instance_request(16) == ("8xa100", 2, None)
    assert provider.normalize_instance_request(3)[2] == "3 GPUs rounded up to 8xa100"
    offers = provider.find_instances({"gpu_type": "a100", "max_price": 2.5})
    assert [(o.region, o.price_per_hour) for o in offers] == [("r1", 2.0)]
    assert {t["display_name"] for t in provider.get_instance_types()} == {"1xa100", "8xa100"}
    assert {t["fid"] for t in provider.get_instance_types("r1")} == {"it_RrgkIZz6c9BZu5gi"}
    with pytest.raises(ValidationError, match="unknown instance type"):
        provider.resolve_instance_type("z900")


def test_task_calls_delegate_and_pause_is_idempotent(provider, fake):
    bid = fake.add_bid(status="Open")
    assert provider.get_task_status(bid["fid"]).value == "pending"
    assert provider.pause_task(bid["fid"]) is True
    assert provider.pause_task(bid["fid"]) is False
    assert provider.resume_task(bid["fid"]) is True
    assert provider.cancel_task(bid["fid"]) is True
    assert provider.stop_task(bid["fid"]) is False
    assert [t.task_id for t in provider.list_tasks()] == [bid["fid"]]
    assert provider.list_active_tasks() == []


def test_account_calls_delegate(provider):
    assert provider.get_user("me").email == "me@example.com"
    assert provider.get_projects()[0]["name"] == "test"
    capabilities = provider.get_capabilities()
    assert capabilities.supports_multi_node and capabilities.pricing_model == "spot"


def test_close_is_safe_twice(fake, tmp_path):
    built = MithrilProvider.from_config(_config(tmp_path), api=fake.client())
    built.list_tasks()
    built.close()
    built.close()


def test_secrets_never_appear_in_reprs(provider):
    assert "fkey_secret" not in repr(provider)
    assert "fkey_secret" not in repr(vars(provider))


def test_before_a_project_is_chosen_what_the_provider_hands_out_is_what_it_claims(fake, tmp_path):
    config = FlowConfig(home=tmp_path, provider="mithril", api_url="http://x")
    built = MithrilProvider.from_config(config.with_overrides(api_key="fkey_x"), api=fake.client())
    try:
        assert isinstance(built.get_remote_operations(), pi.IRemoteOperations)
        assert isinstance(built.get_remote_operations(), pi.IShellCommand)
        assert isinstance(built.get_ssh_tunnel_manager(), pi.ITunnelManager)
        assert built.get_ssh_tunnel_manager().list_tunnels() == []
        assert isinstance(built.get_init_interface(), pi.IProviderInit)
        assert fake.count("GET", "/v2/projects") == 0  # none of it needed the project
        with pytest.raises(ConfigurationError, match="no Mithril project"):
            built.get_remote_operations().execute_command("bid_1", "true")
    finally:
        built.close()


def test_submit_options_a_spot_bid_cannot_honour_are_refused_in_one_line(provider, fake):
    config = TaskConfig(command="true")
    with pytest.raises(ValidationError, match="all of a task's instances or none"):
        provider.submit_task("a100", config, allow_partial_fulfillment=True)
    with pytest.raises(ValidationError, match="chunk_size is not supported"):
        provider.submit_task("a100", config, chunk_size=2)
    assert fake.count("POST", "/v2/spot/bids") == 0


def test_unknown_requirements_are_refused_not_ignored(provider):
    with pytest.raises(ValidationError, match="unknown requirement 'gpu'; known: instance_type"):
        provider.find_instances({"gpu": "a100"})


def test_an_override_that_names_no_service_is_refused(fake, tmp_path):
    with pytest.raises(TypeError, match="no Mithril service is named bidz"):
        MithrilProvider.from_config(_config(tmp_path), api=fake.client(), bidz=object())


def test_every_public_method_is_in_iprovider_or_an_extension_protocol():
    protocols = [
        member
        for member in vars(pi).values()
        if isinstance(member, type) and getattr(member, "_is_protocol", False)
    ]
    promised = {
        name for protocol in protocols for name in dir(protocol) if not name.startswith("_")
    }
    public = {name for name in dir(MithrilProvider) if not name.startswith("_")}
    assert public - promised == {"from_config"}
