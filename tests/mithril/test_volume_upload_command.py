"""``%flow volumes --upload DIR`` on Mithril: one volume lookup, one transfer session."""

from __future__ import annotations

from pathlib import Path

from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from flow_notebook.core.config import FlowConfig
from flow_notebook.notebook.magics import FlowMagics
from flow_notebook.providers.mithril.provider import MithrilProvider


class SessionCountingRemote:
    """Remote operations that record each transfer call (each opens one SFTP session)."""

    def __init__(self) -> None:
        self.sessions: list[tuple[str, str, str]] = []

    def upload_file(self, task_id: str, local_path: Path, remote_path: str) -> int:
        self.sessions.append(("file", task_id, remote_path))
        return Path(local_path).stat().st_size

    def upload_directory(self, task_id: str, local_dir: Path, remote_dir: str) -> int:
        self.sessions.append(("directory", task_id, remote_dir))
        return sum(p.stat().st_size for p in Path(local_dir).rglob("*") if p.is_file())


def test_a_directory_upload_costs_one_lookup_and_one_session_whatever_its_size(fake, tmp_path):
    volume = fake.add_volume("data")
    volume["bids"] = ["bid_running"]
    remote = SessionCountingRemote()
    config = FlowConfig(home=tmp_path / "home", provider="mithril", project="test")
    config = config.with_overrides(api_key="fkey_x", api_url="http://x")
    provider = MithrilProvider.from_config(config, api=fake.client(), remote_ops=remote)
    source = tmp_path / "dataset"
    (source / "sub").mkdir(parents=True)
    for number in range(5):
        (source / "sub" / f"part{number}.bin").write_bytes(b"x" * 10)

    ip = InteractiveShell.instance()
    ip.register_magics(FlowMagics(ip, provider_factory=lambda name=None: provider))
    fake.reset_counts()
    try:
        with capture_output() as captured:
            ip.run_line_magic("flow", f"volumes --upload {volume['fid']} {source} --to inputs")
        assert "50 B of 50 B (100%) done" in captured.stdout
        assert fake.count("GET", "/v2/volumes") == 1
        assert remote.sessions == [
            ("directory", "bid_running", f"/mnt/volumes/{volume['fid']}/inputs")
        ]
    finally:
        provider.close()
