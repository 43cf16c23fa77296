"""Bad config or arguments: a `config.yaml: section.key: ...` line and exit 2, nothing done."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ispsheets.config import load_config


def _ispsheets(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ispsheets", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=60)


def _write(folder: Path, text: str) -> Path:
    path = folder / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(("text", "where", "words"), [
    ("workbook: {path: isp.xlsx}\ninvoicing: {due_days: soon}\n", "config.yaml: invoicing.due_days",
     "integer"),
    ("workbook: {path: isp.xlsx}\ninvoicing: {billing_day: 31}\n",
     "config.yaml: invoicing.billing_day", "less than or equal to 28"),
    ("workbook: {path: isp.xlsx}\ntimezone: Mars/Olympus\n", "config.yaml: timezone", "IANA"),
    ("workbook: {path: isp.xlsx}\ncurrency: dollars\n", "config.yaml: currency", "ISO"),
    ("workbook: {path: isp.xlsx}\ninvoicing: {number_format: 'INV-{number}'}\n",
     "config.yaml: invoicing.number_format", "{seq}"),
    ("workbook: {path: isp.xlsx}\ninvoicing: {due_dayz: 10}\n", "config.yaml: invoicing.due_dayz",
     "unknown setting"),
    ("workbook: {}\n", "config.yaml: workbook", "exactly one of"),
    ("invoicing: [1, 2\n", "config.yaml:2", "not valid YAML"),
])
def test_wrong_setting_is_named_with_its_path(tmp_path, text, where, words):
    config, problems = load_config(_write(tmp_path, text))
    assert config is None
    assert any(str(p).startswith(where) and words in str(p) for p in problems), problems


def test_defaults_follow_the_contract(tmp_path):
    config, problems = load_config(_write(tmp_path, "workbook: {path: isp.xlsx}\n"))
    assert problems == []
    assert config is not None
    assert (config.invoicing.billing_day, config.invoicing.generate_days_before,
            config.invoicing.due_days, config.invoicing.number_format) == (1, 1, 15,
                                                                           "INV-{seq:05d}")
    assert str(config.collections.late_fee) == "5.00"
    assert str(config.collections.reconnection_fee) == "10.00"
    assert (config.collections.late_fee_after_days, config.collections.suspend_after_days) == (
        14, 21)
    assert [s.days for s in config.collections.reminders] == [0, 3, 7, 14]
    assert config.workbook_path == tmp_path / "isp.xlsx"


def test_secret_comes_from_the_environment_then_the_env_file(tmp_path, monkeypatch):
    config, _ = load_config(_write(tmp_path, "workbook: {path: isp.xlsx}\n"))
    assert config is not None
    (tmp_path / ".env").write_text("ISPSHEETS_SMTP_PASSWORD=from-file\n")
    monkeypatch.delenv("ISPSHEETS_SMTP_PASSWORD", raising=False)
    assert config.secret("ISPSHEETS_SMTP_PASSWORD") == "from-file"
    monkeypatch.setenv("ISPSHEETS_SMTP_PASSWORD", "from-env")
    assert config.secret("ISPSHEETS_SMTP_PASSWORD") == "from-env"


def test_cli_exits_2_on_a_bad_config_and_says_where(tmp_path):
    _write(tmp_path, "workbook: {path: isp.xlsx}\ninvoicing: {due_days: -3}\n")
    result = _ispsheets("run", cwd=tmp_path)
    assert result.returncode == 2
    assert "config.yaml: invoicing.due_days" in result.stderr
    assert not (tmp_path / "ispsheets.db").exists()


def test_cli_exits_2_without_a_config(tmp_path):
    result = _ispsheets("check", cwd=tmp_path)
    assert result.returncode == 2
    assert "config.yaml: not found" in result.stderr
    assert "ispsheets init" in result.stderr


def test_a_config_given_with_a_path_that_does_not_exist_is_named_as_given(tmp_path):
    result = _ispsheets("check", "--config", "/nonexistent/cfg.yaml", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("error /nonexistent/cfg.yaml: not found — ")


def test_cli_exits_2_on_a_bad_date(tmp_path):
    _write(tmp_path, "workbook: {path: isp.xlsx}\n")
    result = _ispsheets("run", "--date", "2026-13-01", cwd=tmp_path)
    assert result.returncode == 2
    assert "--date" in result.stderr and "YYYY-MM-DD" in result.stderr


def test_cli_exits_2_when_the_workbook_is_missing(tmp_path):
    _write(tmp_path, "workbook: {path: nowhere.xlsx}\n")
    result = _ispsheets("run", "--dry-run", cwd=tmp_path)
    assert result.returncode == 2
    assert "nowhere.xlsx: not found" in result.stderr
