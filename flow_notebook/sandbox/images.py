"""Boot image versions the sandbox offers (``/v2/image-versions``).

Instances of the sandbox boot the host's own system whatever version is named;
the list gives clients real-looking choices and lets a refresh of a boot disk name one.
"""

from __future__ import annotations

from typing import Any

from flow_notebook.sandbox.catalog import REGIONS

DEFAULT_IMAGE_VERSION = "imgver_ubuntu2204cuda124"

IMAGE_VERSIONS: tuple[dict[str, Any], ...] = (
    {
        "image_version_fid": DEFAULT_IMAGE_VERSION,
        "image_version_name": "Ubuntu 22.04 + CUDA 12.4",
        "os": "Ubuntu 22.04",
        "kernel": "5.15.0",
        "stable": True,
        "supported_regions": list(REGIONS),
        "deactivated_at": None,
        "nvidia_driver": "550.90.07",
        "cuda": "12.4",
        "cuda_toolkit": "12.4.1",
        "nvidia_container_toolkit": "1.16.2",
        "packages": "docker, nvidia-fabricmanager, infiniband-diags",
    },
    {
        "image_version_fid": "imgver_ubuntu2404cuda128",
        "image_version_name": "Ubuntu 24.04 + CUDA 12.8",
        "os": "Ubuntu 24.04",
        "kernel": "6.8.0",
        "stable": False,
        "supported_regions": list(REGIONS),
        "deactivated_at": None,
        "nvidia_driver": "570.124.06",
        "cuda": "12.8",
        "cuda_toolkit": "12.8.1",
        "nvidia_container_toolkit": "1.17.5",
        "packages": "docker, nvidia-fabricmanager, infiniband-diags",
    },
)


def find_image_version(fid: str) -> dict[str, Any] | None:
    """Returns the image version ``fid``, or ``None``."""
    return next((i for i in IMAGE_VERSIONS if i["image_version_fid"] == fid), None)
