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


REMINDERS = """
collections:
  reminders:
    - {name: due_soon, days: -3, template: due_soon}
    - {name: due, days: 0, template: due_notice}
    - {name: final_notice, days: 14, template: final_notis}
"""


def test_a_reminder_stage_naming_a_template_that_does_not_exist_is_found(tmp_path):
    config = _config(tmp_path, REMINDERS)
    [problem] = _problems(config)
    assert problem.startswith("config.yaml: collections.reminders.2.template: email template "
                              "final_notis.txt not found — use a built-in template (due_soon, ")


def test_the_due_soon_notice_goes_out_days_before_the_due_date(tmp_path):
    from email import message_from_bytes, policy

    from ispsheets.runner import RunOptions, run

    config = _config(tmp_path, REMINDERS.replace("final_notis", "final_notice"))
    assert _problems(config) == []
    run(config, RunOptions(today=dt.date(2026, 11, 25), now=dt.datetime(2026, 11, 25, 6)))
    due = {i.invoice_number: i.due_date for i in read_and_check(config)[0].invoices}
    day = min(due.values()) - dt.timedelta(days=3)
    report = run(config, RunOptions(today=day, now=dt.datetime.combine(day, dt.time(6))))
    notices = [message_from_bytes(p.read_bytes(), policy=policy.default)
               for p in (tmp_path / "outbox").glob("reminder_*.eml")]
    assert notices and report.counts["reminders sent"] == len(notices)
    due_on = day + dt.timedelta(days=3)
    for notice in notices:
        assert notice["Subject"].startswith(f"Payment due {due_on:%b} {due_on.day}, {due_on.year}")
        assert "A note ahead of time" in notice.get_body(("plain",)).get_content()
