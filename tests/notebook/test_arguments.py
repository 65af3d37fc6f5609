"""Argument parsing: parsers that raise UsageError, the -- split, options into TaskConfig."""

from __future__ import annotations

import pytest
from IPython.core.error import UsageError

from flow_notebook.core.errors import ValidationError
from flow_notebook.notebook.arguments import (
    add_output_options,
    add_resource_options,
    command_value,
    make_parser,
    split_command,
    task_config_from_args,
)


def _parse(argv):
    parser = make_parser("run", "test")
    add_resource_options(parser)
    add_output_options(parser)
    return parser.parse_line_args(argv)


def test_split_takes_everything_after_the_first_double_dash():
    assert split_command(["-g", "a100", "--", "python", "-c", "x", "--", "y"]) == (
        ["-g", "a100"],
        ["python", "-c", "x", "--", "y"],
    )
    assert split_command(["--wait"]) == (["--wait"], [])


def test_command_value_keeps_argv_unless_one_word_holds_spaces():
    assert command_value(["python", "a b.py"]) == ["python", "a b.py"]
    assert command_value(["make && ./run"]) == "make && ./run"
    assert command_value(["ls"]) == ["ls"]


def test_parser_errors_raise_usage_error_instead_of_exiting():
    with pytest.raises(UsageError, match=r"^%flow run: argument --instances: invalid int"):
        _parse(["--instances", "x"])


def test_secret_by_name_comes_from_the_given_environment():
    args = _parse(["--secret", "TOKEN", "--secret", "B=2"])
    config = task_config_from_args(args, command=["x"], environ={"TOKEN": "t0k"})
    assert config.secret_values() == {"TOKEN": "t0k", "B": "2"}
    assert "t0k" not in repr(config)


def test_upload_flags_and_code_path_set_upload_code(tmp_path):
    assert task_config_from_args(_parse([]), command=["x"]).upload_code is False
    assert task_config_from_args(_parse(["--upload"]), command=["x"]).upload_code is True
    with_code = task_config_from_args(_parse(["--code", str(tmp_path)]), command=["x"])
    assert (with_code.upload_code, with_code.code_root) == (True, tmp_path)
    no_upload = _parse(["--code", str(tmp_path), "--no-upload"])
    assert task_config_from_args(no_upload, command=["x"]).upload_code is False


def test_invalid_values_become_one_line_validation_errors():
    with pytest.raises(ValidationError, match=r"^num_instances: Input should be less than"):
        task_config_from_args(_parse(["--instances", "999"]), command=["x"])


@pytest.mark.parametrize(
    ("text", "hours"), [("90m", 1.5), ("4h", 4.0), ("20s", 20 / 3600), ("1h30m", 1.5)]
)
def test_max_run_time_takes_a_duration_into_the_task_config(text, hours):
    config = task_config_from_args(_parse(["--max-run-time", text]), command=["true"])
    assert config.max_run_time_hours == pytest.approx(hours)
    assert config.keep_alive is False


@pytest.mark.parametrize("text", ["90", "soon", "0s", "3w"])
def test_max_run_time_without_a_duration_is_one_line_usage_error(text):
    with pytest.raises(UsageError, match="duration"):
        _parse(["--max-run-time", text])


def test_keep_alive_and_max_cost_reach_the_task_config():
    args = _parse(["--keep-alive", "--max-cost", "12.5"])
    config = task_config_from_args(args, command=["true"])
    assert (config.keep_alive, config.max_cost) == (True, 12.5)
