"""`ispsheets init`, the example config.yaml and the demo data."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from ispsheets.book.load import load_book
from ispsheets.book.reader import RawBook, RawSheet, read_xlsx
from ispsheets.book.schema import CLIENTS, PACKAGES, SERVICES, TABS_BY_NAME
from ispsheets.config import Config, load_config
from ispsheets.demo import DemoData, generate
from ispsheets.scaffold import InitError, example_config, init_project

ROOT = Path(__file__).resolve().parent.parent
TODAY = dt.date(2026, 11, 25)


def test_top_level_config_example_is_the_packaged_one() -> None:
    top = (ROOT / "config.yaml").read_text(encoding="utf-8")
    assert top == (ROOT / "ispsheets" / "templates" / "config.yaml").read_text(encoding="utf-8")
    assert example_config() == top


def test_config_example_loads_with_no_problems(tmp_path: Path) -> None:
    config, problems = load_config(ROOT / "config.yaml")
    assert problems == []
    assert config is not None
    assert config.workbook.path == "isp.xlsx"


def _settings(model: type[BaseModel], prefix: str = "") -> list[str]:
    names = []
    for name, field in model.model_fields.items():
        if field.exclude:
            continue
        names.append(prefix + name)
        kind = field.annotation
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            names += _settings(kind, f"{prefix}{name}.")
    return names


def test_config_example_spells_out_every_setting_with_a_comment() -> None:
    text = (ROOT / "config.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    for dotted in _settings(Config):
        node: Any = data
        for part in dotted.split("."):
            assert isinstance(node, dict) and part in node, f"{dotted} missing"
            node = node[part]
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith(("#", "- name:")) and ":" in stripped \
                and not line.startswith("      "):
            assert "#" in line, f"no comment: {line}"


def test_config_example_names_secrets_never_holds_them() -> None:
    config, _ = load_config(ROOT / "config.yaml")
    assert config is not None
    assert config.email.smtp.password_env == "ISPSHEETS_SMTP_PASSWORD"
    assert config.stripe.secret_key_env == "STRIPE_SECRET_KEY"
    text = (ROOT / "config.yaml").read_text(encoding="utf-8").lower()
    assert "sk_live" not in text and "sk_test" not in text and "password:" not in text


def test_init_writes_config_and_starter_workbook_into_a_new_nested_folder(tmp_path: Path
                                                                          ) -> None:
    folder = tmp_path / "a" / "b"
    written = init_project(folder, None, TODAY)
    assert written == [folder / "config.yaml", folder / "isp.xlsx"]
    assert (folder / "config.yaml").read_text(encoding="utf-8") == example_config()
    config, problems = load_config(folder / "config.yaml")
    assert config is not None and problems == []
    assert config.workbook_path == (folder / "isp.xlsx").resolve()
    book = load_book(read_xlsx(folder / "isp.xlsx"), today=TODAY)
    assert book.problems == () and book.clients == ()


@pytest.mark.parametrize("existing", ["config.yaml", "isp.xlsx"])
def test_init_refuses_to_overwrite_and_writes_nothing(tmp_path: Path, existing: str) -> None:
    (tmp_path / existing).write_text("mine", encoding="utf-8")
    with pytest.raises(InitError, match=f"{existing} already exists, nothing was written"):
        init_project(tmp_path, 5, TODAY)
    assert sorted(p.name for p in tmp_path.iterdir()) == [existing]
    assert (tmp_path / existing).read_text(encoding="utf-8") == "mine"


def test_init_into_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("", encoding="utf-8")
    with pytest.raises(InitError, match="is a file, not a folder"):
        init_project(tmp_path / "taken", None, TODAY)


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ispsheets", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def test_cli_init_demo_40_then_check_exits_0(tmp_path: Path) -> None:
    made = _cli("init", "shop", "--demo", "40", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert "wrote" in made.stdout
    checked = _cli("check", "--config", "shop/config.yaml", cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert "40 clients" in checked.stdout
    assert "0 error(s)" in checked.stdout
    again = _cli("init", "shop", cwd=tmp_path)
    assert again.returncode == 2
    assert "already exists" in again.stderr


def _column(data: DemoData, tab: str, column: str) -> list[object]:
    index = [c.name for c in TABS_BY_NAME[tab].columns].index(column)
    return [row[index] for row in data.rows()[tab]]


def test_demo_10_clients_show_every_feature() -> None:
    data = generate(10, TODAY, seed=1)
    packages = dict(zip(_column(data, "Packages", "package_id"),
                        _column(data, "Packages", "interval"), strict=True))
    assert {"monthly", "quarterly", "semiannual", "annual"} <= set(packages.values())
    assert "BIZ500" in packages and packages["BIZ500"] == "quarterly"
    assert any(_column(data, "Packages", "setup_fee"))
    assert "yes" in _column(data, "Clients", "tax_exempt")
    assert "yes" in _column(data, "Clients", "autopay")
    assert {1, 15} <= set(_column(data, "Clients", "billing_day"))
    used = _column(data, "Services", "package_id")
    assert "BIZ500" in used and "HOME100Y" in used
    starts = _column(data, "Services", "start_date")
    assert any(isinstance(d, dt.date) and d.day not in (1, 15) for d in starts)  # mid-month
    descriptions = _column(data, "Charges", "description")
    assert "Installation" in descriptions and "Wi-Fi router" in descriptions
    assert len(data.payments) >= 2


def test_demo_emails_use_only_reserved_example_domains() -> None:
    data = generate(500, TODAY, seed=3)
    for cell in _column(data, "Clients", "email"):
        for address in str(cell).split(";"):
            assert address.strip().rsplit("@", 1)[1] in ("example.com", "example.net",
                                                         "example.org")
    for phone in _column(data, "Clients", "phone"):
        assert " 555-01" in str(phone)


def test_demo_is_deterministic_for_a_seed() -> None:
    assert generate(300, TODAY, seed=5) == generate(300, TODAY, seed=5)
    assert generate(300, TODAY, seed=5) != generate(300, TODAY, seed=6)


def test_demo_2000_clients_load_with_zero_errors_without_a_file() -> None:
    data = generate(2000, TODAY)
    sheets = {tab: RawSheet(tab, [[c.name for c in TABS_BY_NAME[tab].columns],
                                  *[list(r) for r in rows]])
              for tab, rows in data.rows().items()}
    book = load_book(RawBook(sheets), today=TODAY)
    assert [str(p) for p in book.problems if p.is_error] == []
    assert len(book.clients) == 2000


def test_demo_20000_clients_have_unique_ids_and_valid_references() -> None:
    started = time.perf_counter()
    data = generate(20_000, TODAY)
    print(f"generate(20000): {time.perf_counter() - started:.2f} s")
    client_ids = _column(data, CLIENTS.name, "client_id")
    assert len(client_ids) == 20_000 == len(set(client_ids))
    service_ids = _column(data, SERVICES.name, "service_id")
    assert len(service_ids) == len(set(service_ids)) >= 20_000
    assert set(_column(data, SERVICES.name, "client_id")) <= set(client_ids)
    assert set(_column(data, SERVICES.name, "package_id")) <= set(
        _column(data, PACKAGES.name, "package_id"))
    for tab in ("Charges", "Payments"):
        assert set(_column(data, tab, "client_id")) <= set(client_ids)
        keys = _column(data, tab, "charge_id" if tab == "Charges" else "payment_id")
        assert len(keys) == len(set(keys))


@pytest.mark.parametrize("how", ["console script", "python -m"])
def test_the_next_command_init_prints_works_as_printed_without_ispsheets_on_the_path(
        tmp_path: Path, how: str) -> None:
    """`.venv/bin` is not on a newcomer's PATH: `next: cd mybiz && ispsheets check` failed."""
    venv_bin = Path(sys.executable).parent
    command = ([str(venv_bin / "ispsheets")] if how == "console script"
               else [sys.executable, "-m", "ispsheets"])
    env = {**os.environ, "PATH": "/usr/bin:/bin"}
    assert shutil.which("ispsheets", path=env["PATH"]) is None
    init = subprocess.run([*command, "init", "my biz"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)
    assert init.returncode == 0, init.stderr
    printed = init.stdout.strip().splitlines()[-1]
    assert printed.startswith("next: cd 'my biz' && ")
    then = subprocess.run(["bash", "-c", printed.removeprefix("next: ")], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=60)
    assert then.returncode == 0, then.stderr
    assert "0 clients, 0 services, 0 packages read; 0 error(s), 0 warning(s)" in then.stdout
