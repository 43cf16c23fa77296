"""Provisioning commands: values quoted so a hostile name is harmless; runs never raise."""

from __future__ import annotations

import shlex
import time
from pathlib import Path

import pytest

from ispsheets.book.records import Client
from ispsheets.collections.provisioning import (
    CommandResult,
    render_command,
    run_command,
    template_fields,
    unknown_fields,
)

ADA = Client("C001", "Ada Lovelace", ("ada@example.com", "billing@example.com"), "+1 555 0100",
             "12 Analytical Way", status="active")
SUSPEND = "ssh admin@10.0.0.1 '/ppp secret disable [find name={client_id}]'"
RESTORE = "ssh admin@10.0.0.1 '/ppp secret enable [find name={client_id}]'"


def hostile(canary: Path) -> Client:
    return Client(f"x; touch {canary}", f"x; touch {canary}; $(touch {canary}) `touch {canary}`"
                  f" 'quote\" \\", ("a@b.c",))


def test_routeros_example_renders_the_client_id_into_the_remote_command():
    assert render_command(SUSPEND, ADA) == (
        "ssh admin@10.0.0.1 '/ppp secret disable [find name=C001]'")
    assert render_command(RESTORE, ADA) == (
        "ssh admin@10.0.0.1 '/ppp secret enable [find name=C001]'")


def test_every_client_field_and_extra_service_ids_fill_in():
    template = "notify {client_id} {name} {email} {emails} {phone} {address} {status} {service_ids}"
    command = render_command(template, ADA, {"service_ids": "S1,S2"})
    assert shlex.split(command) == ["notify", "C001", "Ada Lovelace", "ada@example.com",
                                    "ada@example.com,billing@example.com", "+1 555 0100",
                                    "12 Analytical Way", "active", "S1,S2"]


def test_unknown_placeholder_is_an_error_naming_it():
    with pytest.raises(ValueError, match="clientid"):
        render_command("disable {clientid}", ADA)
    assert unknown_fields("disable {clientid} {service_ids}") == ("clientid",)
    assert template_fields(SUSPEND) == ("client_id",)


def test_routeros_script_braces_with_spaces_are_left_alone():
    command = render_command(":foreach i in=[/ppp active find] do={ :log info {client_id} }", ADA)
    assert command == ":foreach i in=[/ppp active find] do={ :log info C001 }"


@pytest.mark.parametrize("template", [
    "printf '%s\\n' {name}",  # bare: one shell word
    "sh -c 'printf \"%s\\n\" {name}'",  # inside single quotes: a second shell parses it
    'sh -c "printf \'%s\\n\' {name}"',  # inside double quotes: the same, another way
])
def test_client_named_x_touch_file_is_printed_not_run(template: str, tmp_path: Path):
    canary = tmp_path / "PWNED"
    client = hostile(canary)
    result = run_command(render_command(template, client), 10)
    assert result.ok, result
    assert result.output == client.name + "\n"
    assert not canary.exists()


def test_client_named_x_rm_rf_root_stays_one_word():
    command = render_command("echo {name}", Client("C1", "x; rm -rf /"))
    assert command == "echo 'x; rm -rf /'"
    assert run_command(command, 10).output == "x; rm -rf /\n"


def test_fake_ssh_receives_the_remote_command_with_the_value_quoted_for_the_remote_shell(
        tmp_path: Path):
    bin_dir, log = tmp_path / "bin", tmp_path / "ssh.log"
    bin_dir.mkdir()
    ssh = bin_dir / "ssh"
    ssh.write_text(f'#!/bin/sh\nprintf "%s|" "$@" > {log}\n')
    ssh.chmod(0o755)
    prefix = f"PATH={bin_dir}:$PATH "
    assert run_command(prefix + render_command(SUSPEND, ADA), 10).ok
    assert log.read_text() == "admin@10.0.0.1|/ppp secret disable [find name=C001]|"
    evil = Client("x; /system reboot", "Eve")
    assert run_command(prefix + render_command(SUSPEND, evil), 10).ok
    assert log.read_text() == "admin@10.0.0.1|/ppp secret disable [find name='x; /system reboot']|"


def test_successful_command_is_ok_with_its_output():
    assert run_command("echo disabled C001", 10) == CommandResult(True, 0, "disabled C001\n", "ok")


def test_exit_status_3_is_a_failure_with_the_last_line_of_output():
    result = run_command("echo connecting; echo 'no such secret' >&2; exit 3", 10)
    assert (result.ok, result.exit_code) == (False, 3)
    assert result.detail == "exit status 3: no such secret"
    assert "connecting" in result.output


def test_missing_program_is_a_failure_not_an_exception():
    result = run_command("ispsheets-no-such-program-xyz", 10)
    assert not result.ok and result.exit_code == 127


def test_command_running_past_a_1_second_timeout_is_stopped_with_its_children():
    started = time.monotonic()
    result = run_command("echo started; sleep 30 & sleep 30", 1)
    elapsed = time.monotonic() - started
    assert not result.ok and result.exit_code is None
    assert result.detail == "timed out after 1 s and was stopped"
    assert result.output == "started\n"
    assert elapsed < 5


def test_empty_command_does_nothing_and_is_ok():
    assert run_command("  ", 10) == CommandResult(True, None, "", "no command configured")
