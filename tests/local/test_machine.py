from __future__ import annotations

import pytest

from flow_notebook.providers.local.machine import GpuInfo, MachineProbe
from flow_notebook.providers.local.provider import LocalProvider


def _probe(tmp_path, smi_output):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       16384000 kB\nMemFree: 1 kB\n")
    return MachineProbe(run=lambda argv: smi_output, meminfo=meminfo, cpu_count=lambda: 8)


def test_cpu_only_machine_is_described_by_cores_and_memory(tmp_path):
    facts = _probe(tmp_path, None).describe()
    assert (facts.cpu_cores, facts.memory_gb, facts.gpus) == (8, 15, ())
    assert facts.instance_type == "cpu-8"


def test_gpus_come_from_nvidia_smi_output(tmp_path):
    output = "NVIDIA H100 80GB HBM3, 81559 MiB\nNVIDIA H100 80GB HBM3, 81559 MiB\n"
    facts = _probe(tmp_path, output).describe()
    assert facts.gpus == (GpuInfo("NVIDIA H100 80GB HBM3", 81559),) * 2
    assert facts.instance_type == "2xh100"
    assert GpuInfo("Tesla V100-SXM2-16GB", 16160).short_name == "v100"
    assert GpuInfo("NVIDIA GeForce RTX 4090", 24564).short_name == "rtx-4090"


def test_gpu_request_on_cpu_machine_runs_on_cpu_with_a_warning(tmp_path):
    provider = LocalProvider(tmp_path / "state", probe=_probe(tmp_path, None))
    try:
        assert provider.normalize_instance_request(0) == ("cpu-8", 1, None)
        instance_type, count, warning = provider.normalize_instance_request(1, "h100")
        assert (instance_type, count) == ("cpu-8", 1)
        assert "no GPU" in warning and "1xh100" in warning
        assert provider.find_instances({"gpu_count": 1}) == []
        assert provider.get_capabilities().supports_gpu is False
    finally:
        provider.close()


def test_gpu_machine_offers_itself_and_warns_on_other_models(tmp_path):
    probe = _probe(tmp_path, "NVIDIA A100-SXM4-80GB, 81920 MiB\n")
    provider = LocalProvider(tmp_path / "state", probe=probe)
    try:
        assert provider.normalize_instance_request(1, "A100")[2] is None
        assert "not h100" in provider.normalize_instance_request(1, "h100")[2]
        assert "fewer" in provider.normalize_instance_request(4, None)[2]
        [offer] = provider.find_instances({"gpu_count": 1})
        assert (offer.gpu_count, offer.price_per_hour, offer.memory_gb) == (1, 0.0, 15)
    finally:
        provider.close()


def test_gpu_specs_this_machine_lacks_are_refused_naming_what_it_has(tmp_path):
    import pytest

    from flow_notebook.core.errors import ValidationError
    from flow_notebook.core.models import TaskConfig

    cpu = LocalProvider(tmp_path / "cpu", probe=_probe(tmp_path, None))
    gpu = LocalProvider(tmp_path / "gpu", probe=_probe(tmp_path, "NVIDIA A100-SXM4-80GB, 1 MiB\n"))
    try:
        for spec in ("cpu", "CPU-8", "cpu-8"):
            assert cpu.resolve_instance_type(spec) == "cpu-8"
        with pytest.raises(ValidationError) as caught:
            cpu.resolve_instance_type("h200x")
        assert str(caught.value).startswith("this machine has cpu-8 (no GPU): ")
        assert "--gpu h200x" in str(caught.value)
        for spec in ("a100", "1xa100", "a100x1", "1xA100"):
            assert gpu.resolve_instance_type(spec) == "1xa100"
        for spec in ("h100", "2xa100", "a100x8"):
            with pytest.raises(ValidationError, match="this machine has 1xa100: "):
                gpu.resolve_instance_type(spec)
        with pytest.raises(ValidationError, match="--gpu 8xh100"):
            cpu.submit_task("", TaskConfig(command="true", instance_type="8xh100"))
    finally:
        cpu.close()
        gpu.close()


@pytest.mark.parametrize(
    ("runtime", "why"),
    [
        (None, "this machine has no container runtime"),
        ("podman", "it does not start containers, even with podman installed here"),
    ],
)
def test_an_image_is_refused_on_this_machine_with_or_without_a_runtime(
    tmp_path, monkeypatch, runtime, why
):
    from flow_notebook.core.errors import ValidationError
    from flow_notebook.core.models import TaskConfig

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    if runtime:
        (bin_dir / runtime).write_text("#!/bin/sh\nexit 0\n")
        (bin_dir / runtime).chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    provider = LocalProvider(tmp_path / "state", probe=_probe(tmp_path, None))
    try:
        with pytest.raises(ValidationError) as caught:
            provider.submit_task("", TaskConfig(command="true", image="ubuntu:22.04"))
        message = str(caught.value)
        assert "cannot run the image ubuntu:22.04: " + why in message and "\n" not in message
        assert provider.list_tasks() == []
    finally:
        provider.close()


def test_every_offer_requirement_is_honoured_and_unknown_ones_refused(tmp_path):
    import pytest

    from flow_notebook.core.errors import ValidationError

    probe = _probe(tmp_path, "NVIDIA A100-SXM4-80GB, 81920 MiB\n")
    provider = LocalProvider(tmp_path / "state", probe=probe)
    try:
        assert len(provider.find_instances({"gpu_type": "a100", "region": "local"})) == 1
        assert len(provider.find_instances({"instance_type": "1xa100", "max_price": 0})) == 1
        assert provider.find_instances({"gpu_type": "h100"}) == []
        assert provider.find_instances({"region": "us-east1"}) == []
        assert provider.find_instances({"instance_type": "8xh100"}) == []
        with pytest.raises(ValidationError, match="unknown requirement 'min_gpus'"):
            provider.find_instances({"min_gpus": 1})
    finally:
        provider.close()


def test_partial_placement_options_are_refused_before_anything_runs(tmp_path):
    import pytest

    from flow_notebook.core.errors import ValidationError
    from flow_notebook.core.models import TaskConfig

    provider = LocalProvider(tmp_path / "state", probe=_probe(tmp_path, None))
    try:
        config = TaskConfig(command="true")
        with pytest.raises(ValidationError, match="allow_partial_fulfillment is not supported"):
            provider.submit_task("cpu", config, allow_partial_fulfillment=True)
        with pytest.raises(ValidationError, match="chunk_size is not supported"):
            provider.submit_task("cpu", config, chunk_size=1)
        assert provider.list_tasks() == []
    finally:
        provider.close()
