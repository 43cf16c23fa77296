"""Realistic sample data for `ispsheets init --demo N` and for benchmarks.

`generate(n, today, seed)` is pure and deterministic: the same arguments give the same rows,
with no network and no clock. Dates are relative to `today`, so a demo bills on its first run:
established clients are billed up to the current period, new ones started a few days ago.
Emails use only the reserved example.com/.net/.org domains and phones the fictional 555-01xx.
"""

from __future__ import annotations

import calendar
import datetime as dt
import random
from dataclasses import dataclass, field
from decimal import Decimal

from ispsheets.book.schema import CHARGES, CLIENTS, PACKAGES, PAYMENTS, SERVICES, Tab

Row = tuple[object, ...]
ONE_DAY = dt.timedelta(days=1)


@dataclass(frozen=True)
class DemoData:
    """Sample rows per owner tab, each a tuple in the schema's column order (tool cells None)."""

    packages: list[Row] = field(default_factory=list)
    clients: list[Row] = field(default_factory=list)
    services: list[Row] = field(default_factory=list)
    charges: list[Row] = field(default_factory=list)
    payments: list[Row] = field(default_factory=list)

    def rows(self) -> dict[str, list[Row]]:
        """Rows by tab name, ready for `build_template(path, demo_rows=...)`."""
        return {PACKAGES.name: self.packages, CLIENTS.name: self.clients,
                SERVICES.name: self.services, CHARGES.name: self.charges,
                PAYMENTS.name: self.payments}


def _row(tab: Tab, **values: object) -> Row:
    return tuple(values.get(c.name) for c in tab.columns)


def _d(text: str) -> Decimal:
    return Decimal(text)


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


# id, name, price, interval, down, up, cap GB, tax %, prorate, setup fee
_PACKAGES: tuple[tuple[object, ...], ...] = (
    ("HOME25", "Home 25", _d("39.99"), "monthly", 25, 5, None, None, None, None),
    ("HOME100", "Home 100", _d("59.99"), "monthly", 100, 20, None, None, None, None),
    ("HOME300", "Home 300", _d("79.99"), "monthly", 300, 50, None, None, None, None),
    ("RURAL10", "Rural Wireless 10", _d("49.99"), "monthly", 10, 2, 250, None, None, None),
    ("RURAL25", "Rural Wireless 25", _d("69.99"), "monthly", 25, 5, 500, None, None, None),
    ("HOME100Y", "Home 100 Annual", _d("649.00"), "annual", 100, 20, None, None, None, None),
    ("CABIN25", "Seasonal Cabin 25", _d("199.00"), "semiannual", 25, 5, 300, None, "no", None),
    ("BIZ500", "Business 500", _d("389.97"), "quarterly", 500, 500, None, _d("7.25"), "yes",
     _d("199.00")),
    ("STATICIP", "Static IP address", _d("10.00"), "monthly", None, None, None, _d("7.25"),
     None, None),
)
_PRICES = {p[0]: p[2] for p in _PACKAGES}
_MONTHS = {"monthly": 1, "quarterly": 3, "semiannual": 6, "annual": 12}
_INTERVAL = {p[0]: _MONTHS[str(p[3])] for p in _PACKAGES}
_HOME_MIX = ("HOME25",) * 15 + ("HOME100",) * 35 + ("HOME300",) * 15 + ("RURAL10",) * 8 + \
    ("RURAL25",) * 12 + ("HOME100Y",) * 6 + ("CABIN25",) * 3

_FIRST = _words("""
James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara
Richard Susan Joseph Jessica Thomas Sarah Charles Karen Daniel Lisa Matthew Nancy Anthony
Betty Mark Sandra Donald Ashley Steven Emily Paul Donna Andrew Michelle Joshua Carol
Kenneth Amanda Kevin Melissa Brian Deborah George Stephanie Timothy Rebecca Ronald Laura
Jason Helen Edward Sharon Jeffrey Cynthia Ryan Kathleen Jacob Amy Gary Angela Nicholas
Shirley Eric Anna Jonathan Ruth Stephen Brenda Larry Pamela Justin Nicole Scott Katherine
Brandon Samantha Benjamin Christine Samuel Emma Gregory Catherine Alexander Debra Frank
Virginia Patrick Rachel Raymond Carolyn Jack Janet Dennis Maria Jerry Olivia Tyler Heather
Aaron Diane Jose Julie Adam Joyce Nathan Victoria Henry Kelly Zachary Christina Douglas
Lauren Peter Joan Kyle Evelyn Noah Judith Ethan Megan Jeremy Andrea Walter Cheryl
Christian Hannah Keith Jacqueline Roger Martha Terry Gloria Austin Teresa Sean Ann Gerald
Sara Carl Madison Harold Frances Dylan Kathryn Arthur Janice Lawrence Jean Jordan Abigail
Jesse Alice Bryan Judy Billy Sophia Bruce Grace Gabriel Denise Joe Amber Logan Doris Alan
Marilyn Juan Danielle Albert Beverly Willie Isabella Elijah Theresa Wayne Diana Randy
Natalie Vincent Brittany Mason Charlotte Roy Marie Ralph Kayla Bobby Alexis Russell Lori
""")
_LAST = _words("""
Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez
Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White
Harris Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres
Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts
Gomez Phillips Evans Turner Diaz Parker Cruz Edwards Collins Reyes Stewart Morris Morales
Murphy Cook Rogers Gutierrez Ortiz Morgan Cooper Peterson Bailey Reed Kelly Howard Ramos
Kim Cox Ward Richardson Watson Brooks Chavez Wood James Bennett Gray Mendoza Ruiz Hughes
Price Alvarez Castillo Sanders Patel Myers Long Ross Foster Jimenez Powell Jenkins Perry
Russell Sullivan Bell Coleman Butler Henderson Barnes Gonzales Fisher Vasquez Simmons
Romero Jordan Patterson Alexander Hamilton Graham Reynolds Griffin Wallace Moreno West
Cole Hayes Bryant Herrera Gibson Ellis Tran Medina Aguilar Stevens Murray Ford Castro
Marshall Owens Harrison Fernandez McDonald Woods Washington Kennedy Wells Vargas Henry
Chen Freeman Webb Tucker Guzman Burns Crawford Olson Simpson Porter Hunter Gordon Mendez
Silva Shaw Snyder Mason Dixon Munoz Hunt Hicks Holmes Palmer Wagner Black Robertson Boyd
Rose Stone Salazar Fox Warren Mills Meyer Rice Schmidt Garza Daniels Ferguson Nichols
Stephens Soto Weaver Ryan Gardner Payne Grant Dunn Kelley Spencer Hawkins Arnold Pierce
Vazquez
""")
_STREETS = ("Main St", "Oak St", "Maple Ave", "Cedar Ln", "Pine St", "Elm St", "Washington Ave",
            "Lake Rd", "Hill St", "Church St", "Park Ave", "Mill Rd", "River Rd", "Prairie Rd",
            "Ridge Rd", "Meadow Ln", "Orchard Dr", "County Rd 12", "County Rd 40", "School St",
            "Spring St", "Valley View Dr", "Sunset Dr", "Walnut St", "Birch Ln", "Highland Ave",
            "Railroad St", "Creek Rd", "Quarry Rd", "Depot St")
_TOWNS = (("Cedar Falls", "IA", "506"), ("Millbrook", "NY", "125"), ("Pine Ridge", "SD", "577"),
          ("Maple Grove", "MN", "553"), ("Harmony", "PA", "160"), ("Riverton", "WY", "825"),
          ("Fairview", "MT", "592"), ("Oakdale", "NE", "687"), ("Glenwood", "IA", "515"),
          ("Clearwater", "KS", "670"), ("Stony Point", "NC", "286"), ("Greenfield", "WI", "532"))
_AREA = {"IA": "319", "NY": "845", "SD": "605", "MN": "763", "PA": "724", "WY": "307",
         "MT": "406", "NE": "402", "KS": "316", "NC": "704", "WI": "414"}
_SHOPS = ("Hardware", "Auto Repair", "Family Dental", "Feed & Supply", "Insurance Agency",
          "Diner", "Veterinary Clinic", "Law Office", "Realty", "Bakery", "Pharmacy", "Motel")
_EXEMPT = ("{town} Elementary School", "Grace Community Church", "First Baptist Church of {town}",
           "{town} Public Library", "St. Mark's Lutheran Church", "{town} Volunteer Fire Dept")
_TLDS = ("com", "net", "org")


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day `months` later (or earlier), clamped to the month's last day."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    return dt.date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def current_period_start(start: dt.date, months: int, today: dt.date) -> dt.date:
    """Start of the full period holding `today`, on the grid that begins at `start`."""
    elapsed = (today.year - start.year) * 12 + today.month - start.month
    if today.day < start.day:
        elapsed -= 1
    return add_months(start, max(0, elapsed) // months * months)


@dataclass
class _Builder:
    """Accumulates rows; one method per kind of client."""

    today: dt.date
    rng: random.Random
    width: int
    data: DemoData = field(default_factory=DemoData)
    n_services: int = 0

    def client_id(self, i: int) -> str:
        return f"C{i:0{self.width}d}"

    def add_client(self, i: int, name: str, email: str, billing_day: int | None,
                   *, autopay: bool = False, exempt: bool = False, status: str = "active"
                   ) -> str:
        town, state, zip3 = self.rng.choice(_TOWNS)
        address = (f"{self.rng.randint(10, 9899)} {self.rng.choice(_STREETS)}, {town}, "
                   f"{state} {zip3}{self.rng.randint(0, 99):02d}")
        phone = f"({_AREA[state]}) 555-01{self.rng.randint(0, 99):02d}"
        cid = self.client_id(i)
        self.data.clients.append(_row(
            CLIENTS, client_id=cid, name=name, email=email, phone=phone, address=address,
            billing_day=billing_day, autopay="yes" if autopay else "no",
            tax_exempt="yes" if exempt else "no", status=status))
        return cid

    def add_service(self, cid: str, package: str, start: dt.date, *, end: dt.date | None = None,
                    billed_through: dt.date | None = None, quantity: int | None = None,
                    price: Decimal | None = None, discount: int | None = None) -> None:
        self.n_services += 1
        self.data.services.append(_row(
            SERVICES, service_id=f"S{self.n_services:0{self.width}d}", client_id=cid,
            package_id=package, start_date=start, end_date=end, quantity=quantity, price=price,
            discount_pct=discount, billed_through=billed_through))

    def add_charge(self, cid: str, day: dt.date, description: str, amount: Decimal,
                   taxable: bool) -> None:
        self.data.charges.append(_row(
            CHARGES, charge_id=f"CHG-{len(self.data.charges) + 1:05d}", client_id=cid,
            date=min(day, self.today), description=description, amount=amount,
            taxable="yes" if taxable else "no"))

    def add_payment(self, cid: str, amount: Decimal) -> None:
        method = self.rng.choice(("check", "cash", "bank transfer"))
        reference = f"#{self.rng.randint(1001, 9999)}" if method == "check" else ""
        self.data.payments.append(_row(
            PAYMENTS, payment_id=f"PAY-{len(self.data.payments) + 1:05d}",
            date=self.today - dt.timedelta(days=self.rng.randint(1, 12)), client_id=cid,
            amount=amount, method=method, reference=reference or None))

    def long_ago(self, billing_day: int, min_months: int = 2, max_months: int = 48) -> dt.date:
        """A billing day some months back: when an established client signed up."""
        this_month = self.today.replace(day=billing_day)
        return add_months(this_month, -self.rng.randint(min_months, max_months))

    def established(self, cid: str, package: str, billing_day: int, **kw: object) -> dt.date:
        """A client billed by hand until now: monthly and quarterly plans bill their current
        period on the first run; annual and semiannual ones were paid up unless just renewed."""
        start = self.long_ago(billing_day)
        months = _INTERVAL[package]
        current = current_period_start(start, months, self.today)
        if months >= 6 and (self.today - current).days > 30:
            billed = add_months(current, months) - ONE_DAY
        else:
            billed = current - ONE_DAY
        self.add_service(cid, package, start, billed_through=billed if billed >= start else None,
                         **kw)  # type: ignore[arg-type]
        return current

    def new(self, cid: str, package: str, **kw: object) -> dt.date:
        """A new client: service from a few days ago (or next week), installation charged."""
        start = self.today + dt.timedelta(days=self.rng.randint(-20, 7))
        self.add_service(cid, package, start, **kw)  # type: ignore[arg-type]
        self.add_charge(cid, start, "Installation", Decimal("99.00"), False)
        return start


def _person(rng: random.Random, i: int) -> tuple[str, str]:
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    email = f"{first}.{last}{i}@example.{rng.choice(_TLDS)}".lower()
    if rng.random() < 0.05:
        email += f"; {last}.family{i}@example.{rng.choice(_TLDS)}".lower()
    return f"{first} {last}", email


def _billing_day(rng: random.Random) -> int | None:
    roll = rng.random()
    return 1 if roll < 0.80 else 15 if roll < 0.95 else None


def _residential(b: _Builder, i: int) -> None:
    rng = b.rng
    name, email = _person(rng, i)
    day = _billing_day(rng)
    roll = rng.random()
    if roll < 0.03:  # left: every service ended and billed
        cid = b.add_client(i, name, email, day, status="cancelled")
        start = b.long_ago(day or 1, 13, 40)
        end = add_months(b.today.replace(day=day or 1), -rng.randint(1, 6)) - ONE_DAY
        b.add_service(cid, rng.choice(_HOME_MIX[:65]), start, end=end, billed_through=end)
        return
    cid = b.add_client(i, name, email, day, autopay=rng.random() < 0.3,
                       status="suspended" if roll < 0.04 else "active")
    package = rng.choice(_HOME_MIX)
    extras: dict[str, object] = {}
    if rng.random() < 0.05:
        extras["discount"] = 10  # senior discount
    elif rng.random() < 0.03:
        extras["price"] = _PRICES[package] - Decimal("5.00")  # grandfathered price
    if roll > 0.82:
        start = b.new(cid, package, **extras)
        if rng.random() < 0.3:
            b.add_charge(cid, start, "Wi-Fi router", Decimal("129.00"), True)
    elif roll > 0.78:  # upgraded this period: the old plan ends, the new one begins
        start = b.long_ago(day or 1)
        current = current_period_start(start, 1, b.today)
        b.add_service(cid, "HOME25", start, end=current - ONE_DAY,
                      billed_through=current - ONE_DAY)
        b.add_service(cid, "HOME300", current)
    else:
        b.established(cid, package, day or 1, **extras)
        if rng.random() < 0.02:
            b.add_payment(cid, _PRICES[package])
        elif rng.random() < 0.01:
            b.add_charge(cid, b.today - dt.timedelta(days=rng.randint(0, 10)),
                         "Outage credit", Decimal("-10.00"), False)


def _business(b: _Builder, i: int, exempt: bool) -> None:
    rng = b.rng
    town = rng.choice(_TOWNS)[0]
    if exempt:
        name = rng.choice(_EXEMPT).format(town=town)
    else:
        name = f"{rng.choice(_LAST)} {rng.choice(_SHOPS)}"
    email = f"office{i}@example.{rng.choice(_TLDS)}"
    cid = b.add_client(i, name, email, 1, autopay=not exempt and rng.random() < 0.5,
                       exempt=exempt)
    if rng.random() < 0.25:
        start = b.new(cid, "BIZ500")
    else:
        b.established(cid, "BIZ500", 1)
        start = None
    if rng.random() < 0.4:
        ips = rng.randint(1, 5)
        if start is None:
            b.established(cid, "STATICIP", 1, quantity=ips)
        else:
            b.add_service(cid, "STATICIP", start, quantity=ips)


def _showcase(b: _Builder, i: int) -> None:
    """The first clients show one feature each, so even a 10-client demo has them all."""
    rng = b.rng
    name, email = _person(rng, i)
    if i == 1:
        cid = b.add_client(i, name, email, 1, autopay=True)
        b.established(cid, "HOME100", 1)
    elif i == 2:
        cid = b.add_client(i, name, email, 1)
        start = b.new(cid, "HOME25")
        b.add_charge(cid, start, "Wi-Fi router", Decimal("129.00"), True)
    elif i == 3:
        _business(b, i, exempt=True)
    elif i == 4:
        cid = b.add_client(i, name, email, 15)
        b.established(cid, "RURAL25", 15)
        b.add_payment(cid, Decimal("69.99"))
    elif i == 5:
        cid = b.add_client(i, f"{rng.choice(_LAST)} {rng.choice(_SHOPS)}",
                           f"office{i}@example.com", 1, autopay=True)
        start = b.new(cid, "BIZ500")
        b.add_service(cid, "STATICIP", start, quantity=2)
    elif i == 6:
        cid = b.add_client(i, name, email, None)
        b.new(cid, "HOME100Y")
    elif i == 7:
        cid = b.add_client(i, name, email, 1)
        b.established(cid, "HOME100", 1, discount=10)
        b.add_payment(cid, Decimal("50.00"))
    else:
        _residential(b, i)


def generate(n: int, today: dt.date, seed: int = 2026) -> DemoData:
    """`n` sample clients with their packages, services, charges and payments."""
    b = _Builder(today, random.Random(seed), max(4, len(str(n))))
    b.data.packages.extend(_row(PACKAGES, package_id=p[0], name=p[1], price=p[2], interval=p[3],
                                download_mbps=p[4], upload_mbps=p[5], data_cap_gb=p[6],
                                tax_rate=p[7], prorate=p[8], setup_fee=p[9])
                           for p in _PACKAGES)
    for i in range(1, n + 1):
        if i <= 7:
            _showcase(b, i)
        elif b.rng.random() < 0.06:
            _business(b, i, exempt=b.rng.random() < 0.2)
        else:
            _residential(b, i)
    return b.data
