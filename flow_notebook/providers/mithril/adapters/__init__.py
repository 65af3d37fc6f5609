"""Pure conversions from Mithril API models (``api.dto``) to core models."""

from flow_notebook.providers.mithril.adapters.convert import (
    SshEndpoint,
    auction_to_available_instance,
    instance_to_core,
    instance_type_display_name,
    me_to_user,
    parse_ssh_destination,
    project_to_dict,
    teammate_to_user,
    volume_to_core,
)

__all__ = [
    "SshEndpoint",
    "auction_to_available_instance",
    "instance_to_core",
    "instance_type_display_name",
    "me_to_user",
    "parse_ssh_destination",
    "project_to_dict",
    "teammate_to_user",
    "volume_to_core",
]
