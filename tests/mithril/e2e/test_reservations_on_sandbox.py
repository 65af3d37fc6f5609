"""Reservations from the notebook against the sandbox: real HTTP, real reserved instances."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from pathlib import Path

import pytest
from IPython.core.error import UsageError

from flow_notebook.core.errors import NotFoundError, TaskStateError, ValidationError
from flow_notebook.core.models import TaskConfig, utcnow
from flow_notebook.core.provider_interfaces import IReservations
from flow_notebook.core.reservations import Reservation, ReservationRequest
from flow_notebook.sandbox.testing import ssh_run, wait_for

from .conftest import run_flow

# A shape no other test of the shared sandbox uses (capacity 4 there).
GPU, REGION = "8xh100", "us-central2-a"


def _request(hours: float = 2.0, start_in: timedelta = timedelta(0)) -> ReservationRequest:
    start = utcnow() + start_in
    return ReservationRequest(
        instance_type=GPU,
        num_instances=1,
        region=REGION,
        start=start,
        end=start + timedelta(hours=hours),
        name="res-test",
    )


@pytest.fixture
def reservations(provider):
    """The provider as ``IReservations``; every reservation made is given back at teardown."""
    assert isinstance(provider, IReservations)
    yield provider
    for reservation in provider.list_reservations():
        if reservation.status == "active":
            provider.terminate_reservation_instances(reservation.reservation_id)


def test_quote_then_create_charges_the_quoted_total(reservations):
    quote = reservations.quote_reservation(_request(hours=3))
    assert quote.available and quote.region == REGION and quote.instance_type == GPU
    assert quote.total_price == pytest.approx(quote.price_per_instance_hour * 3, abs=0.02)

    created = reservations.create_reservation(_request(hours=3))
    assert created.reservation_id.startswith("res_")
    assert created.status == "active" and len(created.instances) == 1
    assert created.price_per_instance_hour == quote.price_per_instance_hour
    assert created.total_price == pytest.approx(quote.total_price, abs=0.02)


def test_extend_moves_the_end_and_adds_the_quoted_hours(reservations):
    created = reservations.create_reservation(_request(hours=1))
    new_end = created.end + timedelta(hours=2)
    quote = reservations.quote_extension(created.reservation_id, new_end)
    assert quote.available and quote.current_end == created.end
    assert quote.added_cost == pytest.approx(created.price_per_instance_hour * 2, abs=0.02)

    extended = reservations.extend_reservation(created.reservation_id, new_end)
    assert extended.end == new_end
    assert extended.total_price == pytest.approx(quote.new_total, abs=0.02)
    kinds = [event.kind for event in reservations.reservation_history(created.reservation_id)]
    assert kinds[0] == "Placed" and "Terms Changed" in kinds


def test_usage_and_cost_so_far_are_price_times_time_held(reservations):
    created = reservations.create_reservation(_request(hours=1))

    def held_a_while() -> Reservation | None:
        # The API counts whole seconds: wait until a few have passed.
        seen = reservations.get_reservation(created.reservation_id)
        return seen if (seen.reserved_hours or 0) * 3600 >= 3 else None

    seen: Reservation = wait_for(held_a_while, timeout=30, interval=0.5)
    assert seen.used_hours is not None and seen.used_hours <= seen.reserved_hours + 1e-3
    expected = seen.price_per_instance_hour * seen.reserved_hours
    assert seen.cost_so_far == pytest.approx(expected, abs=0.02)
    assert seen.cost_so_far < seen.total_price


def test_terminate_instances_gives_the_capacity_back(reservations):
    created = reservations.create_reservation(_request(hours=1))
    ended = reservations.terminate_reservation_instances(created.reservation_id)
    assert ended == created.instances
    assert reservations.get_reservation(created.reservation_id).status == "canceled"


def test_bad_windows_and_unknown_ids_are_refused_in_one_line(reservations):
    with pytest.raises(ValidationError, match="starts in the past"):
        reservations.quote_reservation(_request(start_in=-timedelta(hours=2)))
    with pytest.raises(ValidationError, match="duration must be more than 0"):
        reservations.create_reservation(_request(hours=0))
    with pytest.raises(NotFoundError, match="no reservation res_nope"):
        reservations.get_reservation("res_nope")


# --- the magics ----------------------------------------------------------------------


def test_flow_reserve_quotes_and_places_only_with_yes(ip, magics, reservations):
    before = {r.reservation_id for r in reservations.list_reservations()}
    out = run_flow(ip, f"reserve --gpu {GPU} --instances 1 --region {REGION} --duration 2h")
    assert f"1 x {GPU} in {REGION}" in out and "/instance-hour, available, total $" in out
    assert out.endswith("nothing done yet: add --yes to reserve"), out
    assert {r.reservation_id for r in reservations.list_reservations()} == before

    out = run_flow(ip, f"reserve --gpu {GPU} --region {REGION} --start now --duration 2h --yes")
    placed = [r for r in reservations.list_reservations() if r.reservation_id not in before]
    assert len(placed) == 1
    assert f"reserved {placed[0].reservation_id}" in out and "%flow run --reservation" in out

    table = run_flow(ip, "reservations")
    assert placed[0].reservation_id in table and "active" in table and "COST SO FAR" in table


def test_flow_reservation_extend_history_and_terminate(ip, magics, reservations):
    created = reservations.create_reservation(_request(hours=1))
    rid = created.reservation_id
    out = run_flow(ip, f"reservation extend {rid} --duration 1d --yes")
    assert "available, adds $" in out and "new total $" in out and f"extended {rid}" in out
    assert reservations.get_reservation(rid).end == created.end + timedelta(days=1)

    history = run_flow(ip, f"reservation history {rid}")
    assert "Placed" in history and "Terms Changed" in history

    out = run_flow(ip, f"reservation terminate-instances {rid} --yes")
    assert out == f"terminated 1 instance(s) of {rid}: {created.instances[0]}"
    assert reservations.get_reservation(rid).status == "canceled"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("reserve --gpu 8xh100 --start 2020-01-01T00:00 --duration 3d", "starts in the past"),
        ("reserve --gpu 8xh100 --duration 0h", "--duration: expected a duration above zero"),
        ("reserve --gpu 8xh100 --start sometime --duration 3d", "--start: expected now"),
        ("reservation extend res_nope --duration 1d", "no reservation res_nope"),
        ("reservation history res_nope", "no reservation res_nope"),
    ],
)
def test_bad_input_is_one_line(ip, magics, line, message):
    with pytest.raises(UsageError) as caught:
        ip.run_line_magic("flow", line)
    assert message in str(caught.value) and "\n" not in str(caught.value)


# --- tasks on a reservation ----------------------------------------------------------


def _bid_count(handle) -> int:
    from flow_notebook.providers.mithril.api import ApiClient

    with ApiClient(handle.api_key, base_url=handle.url) as api:
        return len(api.list_bids(handle.project, limit=100).data)


def test_a_task_on_the_reservation_runs_streams_and_ends_without_a_bid(
    reservations, waits, mithril_sandbox
):
    created = reservations.create_reservation(_request(hours=1))
    bids_before = _bid_count(mithril_sandbox)
    config = TaskConfig(
        command="for i in 1 2 3; do echo line-$i; done; hostname > /dev/null",
        reservation_id=created.reservation_id,
        name="on-reserved",
    )
    task = reservations.submit_task("", config)
    assert task.task_id.startswith("rtask_")
    assert task.metadata["reservation_id"] == created.reservation_id
    assert task.instances == created.instances

    lines = list(reservations.stream_task_logs(task.task_id))
    assert lines == ["line-1", "line-2", "line-3"]
    done = waits.ended(reservations, task.task_id)
    assert done.status.value == "completed" and done.exit_code == 0
    assert _bid_count(mithril_sandbox) == bids_before  # no bid was placed
    # The instances stay: the reservation is paid for and runs the next task.
    assert reservations.get_reservation(created.reservation_id).status == "active"
    second = TaskConfig(
        command='test "$TOKEN" = s3cr3t && echo second',
        secrets={"TOKEN": "s3cr3t"},
        reservation_id=created.reservation_id,
    )
    again = reservations.submit_task("", second)
    assert waits.ended(reservations, again.task_id).exit_code == 0
    # Only this run's output: the first run's lines were cleared from the instance.
    assert reservations.get_task_logs(again.task_id) == "second"
    listed = {t.task_id: t for t in reservations.list_tasks()}
    assert listed[task.task_id].status.value == "completed"
    assert listed[again.task_id].cost_per_hour == 0.0


def test_terminate_instances_ends_the_running_task(reservations, waits):
    created = reservations.create_reservation(_request(hours=1))
    config = TaskConfig(command="sleep 300", reservation_id=created.reservation_id)
    task = reservations.submit_task("", config)
    assert reservations.get_task(task.task_id).status.value == "running"

    reservations.terminate_reservation_instances(created.reservation_id)
    ended = waits.ended(reservations, task.task_id)
    assert ended.status.value == "cancelled"


def test_cancel_stops_the_task_and_keeps_the_instances(reservations, waits):
    created = reservations.create_reservation(_request(hours=1))
    task = reservations.submit_task(
        "", TaskConfig(command="sleep 300", reservation_id=created.reservation_id)
    )
    assert reservations.cancel_task(task.task_id) is True
    assert reservations.get_task(task.task_id).status.value == "cancelled"
    assert reservations.cancel_task(task.task_id) is False
    probe = reservations.submit_task(
        "",
        TaskConfig(
            command="pgrep -f '[s]leep 300' || echo none", reservation_id=created.reservation_id
        ),
    )
    waits.ended(reservations, probe.task_id)
    assert reservations.get_task_logs(probe.task_id) == "none"


def test_a_reservation_whose_window_has_not_started_refuses_a_run(reservations):
    later = reservations.create_reservation(_request(hours=1, start_in=timedelta(hours=3)))
    assert later.status == "pending"
    config = TaskConfig(command="true", reservation_id=later.reservation_id)
    with pytest.raises(TaskStateError, match=f"reservation {later.reservation_id} starts at"):
        reservations.submit_task("", config)


def test_flow_run_on_a_reservation_and_the_one_time_hint(ip, magics, reservations, waits):
    created = reservations.create_reservation(_request(hours=1))
    rid = created.reservation_id
    out = run_flow(ip, f"run --reservation {rid} --wait -- echo reserved-run")
    assert "rtask_" in out and "completed" in out

    first = run_flow(ip, f"run --gpu {GPU} --region {REGION} -- true")
    assert f"note: reservation {rid} holds 1 x {GPU}" in first
    assert f"add --reservation {rid}" in first
    second = run_flow(ip, f"run --gpu {GPU} --region {REGION} -- true")
    assert "note: reservation" not in second  # said once

    with pytest.raises(UsageError, match="no reservation res_nope"):
        ip.run_line_magic("flow", "run --reservation res_nope -- true")


# --- the reservations panel ----------------------------------------------------------


def test_panel_shows_the_window_extends_it_and_runs_on_it(magics, reservations, waits):
    from flow_notebook.notebook.widgets.reservations_panel import ReservationsPanel

    created = reservations.create_reservation(_request(hours=1))
    rid = created.reservation_id
    panel = ReservationsPanel(magics.session, reservations).refresh()
    assert rid in [r.reservation_id for r in panel.reservations]
    drawn = " ".join(row.children[0].value for row in panel.rows.children)
    assert "flow-res-bar" in drawn and rid in drawn and "so far of $" in drawn

    confirm = panel.extend(rid)
    assert "new total $" in confirm.prompt.value
    assert reservations.get_reservation(rid).end == created.end  # nothing before Yes
    confirm.confirm()
    assert f"extended {rid}" in confirm.result.value
    assert reservations.get_reservation(rid).end == created.end + timedelta(days=1)

    task = panel.run(rid, "echo from-the-panel")
    assert task is not None and task.metadata["reservation_id"] == rid
    waits.ended(reservations, task.task_id)
    assert reservations.get_task_logs(task.task_id) == "from-the-panel"
    assert panel.run(rid, "  ") is None and "type a command" in panel.result.value


def test_picker_shows_the_reservation_quote_beside_the_spot_price(magics, reservations):
    from flow_notebook.notebook.widgets.instances import InstanceCatalog
    from flow_notebook.notebook.widgets.picker_widget import InstancePicker

    catalog = InstanceCatalog(lambda: reservations, gpu="h100")
    picker = InstancePicker(catalog, magics.session).refresh()
    index = next(
        i for i, row in enumerate(catalog.rows) if (row.instance_type, row.region) == (GPU, REGION)
    )
    picker.choose(index)
    row = catalog.rows[index]
    quote = catalog.reserved_quote(row)
    assert quote is not None and quote.region == REGION
    shown = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", picker.reserved.value)).split())
    assert f"reserved ${quote.price_per_instance_hour:,.2f}/h" in shown
    assert f"vs spot ${row.price_per_hour:,.2f}/h" in shown
    cheaper = quote.price_per_instance_hour < row.price_per_hour
    assert ("reserving is cheaper" if cheaper else "spot is cheaper now") in shown
    assert f"%flow reserve --gpu {GPU} --region {REGION} --duration 24h" in shown


def test_a_two_node_task_gets_a_rank_on_each_reserved_instance(reservations, waits):
    request = _request(hours=1).model_copy(update={"num_instances": 2})
    created = reservations.create_reservation(request)
    config = TaskConfig(
        command='echo "rank $FLOW_NODE_RANK of $FLOW_NUM_NODES"',
        num_instances=2,
        reservation_id=created.reservation_id,
    )
    task = reservations.submit_task("", config)
    assert task.num_instances == 2 and sorted(task.instances) == sorted(created.instances)
    assert waits.ended(reservations, task.task_id).exit_code == 0
    assert reservations.get_task_logs(task.task_id) == "rank 0 of 2"  # rank 0's log
    # Each instance got its own rank file: read them over ssh with the provider's key.
    words = reservations.get_remote_operations().shell_command(task.task_id).split()
    key = Path(words[words.index("-i") + 1])
    ranks = []
    for instance in reservations.get_task_instances(task.task_id):
        where = f"{instance.ssh_host}:{instance.ssh_port}"
        ranks.append(ssh_run(where, key, "cat /var/log/flow/node_rank", user="ubuntu").stdout)
    assert [rank.strip() for rank in ranks] == ["0", "1"]

    with pytest.raises(ValidationError, match="holds 2 instance"):
        reservations.submit_task("", config.model_copy(update={"num_instances": 3}))


def test_flow_sync_sends_changed_code_to_a_task_on_the_reservation(reservations, tmp_path):
    created = reservations.create_reservation(_request(hours=1))
    code = tmp_path / "code"
    code.mkdir()
    (code / "model.py").write_text("VERSION = 1\n")
    config = TaskConfig(
        command="sleep 300", reservation_id=created.reservation_id, upload_code=True, code_root=code
    )
    task = reservations.submit_task("", config)
    remote = reservations.get_remote_operations()
    assert remote is not None
    assert remote.execute_command(task.task_id, "cat /workspace/model.py") == "VERSION = 1\n"

    (code / "model.py").write_text("VERSION = 2\n")
    report = reservations.sync_code(task.task_id, code)
    assert report["files"] == 1
    assert remote.execute_command(task.task_id, "cat /workspace/model.py") == "VERSION = 2\n"
    reservations.cancel_task(task.task_id)
    with pytest.raises(TaskStateError, match="has ended"):
        reservations.sync_code(task.task_id, code)


def test_a_tunnel_reaches_a_server_of_a_task_on_the_reservation(reservations):
    import urllib.request

    from flow_notebook.sandbox.instances import free_port

    created = reservations.create_reservation(_request(hours=1))
    port = free_port()
    command = f"echo reserved-ok > hello.txt && exec python3 -m http.server {port} --bind 127.0.0.1"
    task = reservations.submit_task(
        "", TaskConfig(command=command, reservation_id=created.reservation_id)
    )
    tunnels = reservations.get_ssh_tunnel_manager()
    tunnel = tunnels.open_tunnel(task.task_id, port)

    def fetch() -> str | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{tunnel.local_port}/hello.txt") as r:
                return r.read().decode()
        except OSError:
            return None

    assert wait_for(fetch, timeout=20, interval=0.3) == "reserved-ok\n"
    tunnels.close_tunnel(tunnel.tunnel_id)
    reservations.cancel_task(task.task_id)
