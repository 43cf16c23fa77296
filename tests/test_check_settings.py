"""`check` also checks what config.yaml points at: own templates, commands, logo, font."""

from __future__ import annotations

import datetime as dt

from ispsheets.book.check import read_and_check
from ispsheets.config import load_config
from ispsheets.scaffold import init_project


def _config(tmp_path, extra: str):
    init_project(tmp_path, 3, dt.date(2026, 11, 25))
    path = tmp_path / "config.yaml"
    path.write_text(path.read_text() + extra, encoding="utf-8")
    config, problems = load_config(path)
    assert config is not None, problems
    return config


def _problems(config) -> list[str]:
    _, problems = read_and_check(config, dt.date(2026, 11, 25))
    return [str(p) for p in problems if p.is_error]


def test_an_unknown_placeholder_in_a_provisioning_command_is_named(tmp_path):
    config = _config(tmp_path, "\n".join([
        "", "collections:", "  provisioning:",
        "    suspend_command: \"ssh admin@10.0.0.1 disable {clientid}\"", ""]))
    [problem] = _problems(config)
    assert problem.startswith("config.yaml: collections.provisioning.suspend_command: "
                              "unknown placeholder {clientid}")
    assert "{client_id}" in problem


def test_a_broken_own_email_template_is_found_before_a_run_needs_it(tmp_path):
    (tmp_path / "mail").mkdir(parents=True)
    config = _config(tmp_path, "\n".join(["", "email:", "  templates_dir: mail", ""]))
    (tmp_path / "mail" / "reminder.txt").write_text(
        "{% block subject %}Hi {{ clinet.name }}{% endblock %}\n{{ client.name|nosuchfilter }}")
    problems = _problems(config)
    assert len(problems) == 1 and "reminder.txt" in problems[0]


def test_a_missing_logo_is_named(tmp_path):
    config = _config(tmp_path, "\n".join(["", "company:", "  name: Prairie Net",
                                          "  logo: logo.png", ""]))
    assert _problems(config) == ["config.yaml: company.logo: logo.png not found — check the "
                                 "file name (relative to config.yaml)"]
