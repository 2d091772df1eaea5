"""Datasets made at test time: real-looking CSVs with a known signal, written as dataset folders."""
import csv
import os
import random
from typing import Dict, List, Optional, Sequence

import yaml


def write_dataset(folder, columns: Sequence[str], rows: List[Sequence], config: Dict,
                  schema: Optional[str] = None, name: str = "data.csv") -> str:
    """A dataset folder: the CSV (None -> empty field), dataset.yaml and, if given, schema.pbtxt."""
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        writer.writerows([["" if v is None else v for v in row] for row in rows])
    with open(os.path.join(folder, "dataset.yaml"), "w") as f:
        yaml.safe_dump(config, f, allow_unicode=True, sort_keys=False)
    if schema is not None:
        with open(os.path.join(folder, "schema.pbtxt"), "w") as f:
            f.write(schema)
    return str(folder)


def _maybe(value, rng: random.Random, missing: float):
    return None if rng.random() < missing else value


def house_prices(n: int = 600, seed: int = 0, codes_as_floats: bool = False):
    """Regression: price from floor area, rooms, a district and a condition code (an integer category,
    written 1.0, 2.0, 3.0 with codes_as_floats, as pandas writes an integer column that had gaps)."""
    rng = random.Random(seed)
    columns = ["listing id", "floor area m2", "rooms", "district", "condition code", "price"]
    premium = {"north": 40.0, "centre": 90.0, "south": 10.0, "harbour": 60.0}
    rows = []
    for i in range(n):
        area = rng.uniform(30, 160)
        rooms = max(1, int(area // 30) + rng.choice((-1, 0, 1)))
        district = rng.choice(sorted(premium))
        condition = rng.choice((1, 2, 3))
        price = 2.0 * area + premium[district] + 25.0 * (condition == 3) + rng.gauss(0, 8)
        # Some prices are unknown: those rows are left out of training and evaluation.
        rows.append([f"L{i:05d}", _maybe(round(area, 1), rng, 0.05), rooms, district,
                     float(condition) if codes_as_floats else condition,
                     None if i % 50 == 7 else round(price, 1)])
    return columns, rows


def churn(n: int = 800, seed: int = 1):
    """Binary: churned yes/no from tenure, monthly charges and the plan."""
    rng = random.Random(seed)
    columns = ["customer_id", "tenure_months", "monthly_charges", "plan", "churned"]
    rows = []
    for i in range(n):
        tenure = rng.randint(0, 72)
        charges = rng.uniform(20, 120)
        plan = rng.choice(("monthly", "yearly", "two-year"))
        risk = 1.5 - tenure / 20 + (charges - 70) / 25 + (1.0 if plan == "monthly" else -1.0)
        churned = "yes" if risk + rng.gauss(0, 0.7) > 0 else "no"
        rows.append([f"C{i:05d}", tenure, round(charges, 2), _maybe(plan, rng, 0.03), churned])
    return columns, rows


def awkward_flowers(n: int = 450, seed: int = 2):
    """Multi-class with awkward column names: spaces, a slash, a dot, non-ASCII letters, parentheses."""
    rng = random.Random(seed)
    columns = ["Blüten-Länge (cm)", "petal width/cm", "colour.name", "zone code", "Art"]
    kinds = {"setosa": (1.5, 0.3, "white"), "versicolor": (4.3, 1.3, "violet"), "virginica": (5.6, 2.0, "blue")}
    rows = []
    for i in range(n):
        kind = sorted(kinds)[i % 3]
        length, width, colour = kinds[kind]
        rows.append([_maybe(round(rng.gauss(length, 0.3), 2), rng, 0.05), round(rng.gauss(width, 0.15), 2),
                     colour if rng.random() < 0.9 else rng.choice(("white", "violet", "blue")),
                     rng.choice((101, 202, 303)), kind])
    return columns, rows
