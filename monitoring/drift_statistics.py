"""Two-sample drift tests per feature, with one false-alarm rate for the whole window.

Each feature of a window of logged rows is compared with the same feature in the training
split (the data, not its histogram), by a test that accounts for both sample sizes:

- numeric values: Kolmogorov-Smirnov (`scipy.stats.ks_2samp`), which assumes independent
  draws and continuous values; ties (rounded measurements) only make it conservative.
  Effect size: the Wasserstein distance in training standard deviations (for a pure
  shift, the shift itself). A feature constant in training has no standard deviation:
  it is compared as a categorical one.
- numeric presence: Fisher's exact test on rows with and without a usable value;
  effect size: the change in the missing share.
- categorical values: chi-squared on the value counts (`scipy.stats.chi2_contingency`),
  missing values and values never seen in training counted as categories of their own;
  categories too rare for the chi-squared approximation (expected count below 5) are
  pooled. Effect size: the total variation distance between the shares.

The p-values of all tests of a window are adjusted with Holm's method, so the chance that
a window without drift is flagged at all is at most `false_alarm_rate`, whatever the
number of features. A test alarms only when its adjusted p-value is below that rate AND
its effect size reaches the minimum: a certain but tiny change (huge windows) is reported
as "small change", not as drift.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
from scipy import stats

from monitoring.feature_columns import CATEGORICAL, FeatureColumn

KOLMOGOROV_SMIRNOV = "kolmogorov_smirnov"
FISHER_PRESENCE = "fisher_exact_presence"
CHI_SQUARED = "chi_squared"
SHIFT_SD = "wasserstein_sd"  # Wasserstein distance / training standard deviation
SHARE_CHANGE = "share_change"  # change of the missing share, in [0, 1]
TOTAL_VARIATION = "total_variation"  # half the L1 distance between category shares, in [0, 1]

DRIFT, SMALL_CHANGE, NO_DRIFT, UNTESTABLE = "drift", "small change", "no drift", "untestable"

MISSING_CATEGORY = "<missing>"
UNSEEN_CATEGORY = "<unseen in training>"
POOLED_CATEGORY = "<rare categories pooled>"
MIN_EXPECTED_COUNT = 5  # the usual validity condition of the chi-squared approximation

# The change the window size must be able to detect: one standard deviation of a numeric
# feature, or a categorical feature's rarest value gaining this share.
REFERENCE_SHIFT_SD = 1.0
REFERENCE_SHARE_SHIFT = 0.2


@dataclass(frozen=True)
class DriftSettings:
    false_alarm_rate: float = 0.01  # chance that a window without drift is flagged (Holm-adjusted)
    detection_rate: float = 0.95  # wanted chance of catching the reference change (sets rows needed)
    min_shift_sd: float = 0.25  # numeric effect size that counts as drift
    min_share_change: float = 0.1  # categorical / presence effect size that counts as drift

    def __post_init__(self):
        for name in ("false_alarm_rate", "detection_rate"):
            if not 0.0 < getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be between 0 and 1 (exclusive), got {getattr(self, name)}")
        for name in ("min_shift_sd", "min_share_change"):
            if not getattr(self, name) >= 0.0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")


@dataclass
class DriftTest:
    feature: str
    test: str
    statistic: Optional[float]
    p_value: Optional[float]
    effect_measure: str
    effect_size: Optional[float]
    min_effect: float
    adjusted_p_value: Optional[float] = None
    verdict: str = UNTESTABLE
    note: str = ""

    def to_dict(self) -> Dict:
        """JSON-ready: a non-finite number (an odds ratio of 0/0, say) becomes None."""
        return {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in asdict(self).items()}


@dataclass
class Judgement:
    tests: List[DriftTest]
    settings: DriftSettings

    @property
    def drifted_features(self) -> List[str]:
        return sorted({t.feature for t in self.tests if t.verdict == DRIFT})

    @property
    def changed_features(self) -> List[str]:
        """Certain but below the effect size: reported, not alarmed."""
        return sorted({t.feature for t in self.tests if t.verdict == SMALL_CHANGE} - set(self.drifted_features))


# ---- the tests ------------------------------------------------------------------------

def _untestable(feature: str, test: str, measure: str, min_effect: float, note: str) -> DriftTest:
    return DriftTest(feature, test, None, None, measure, None, min_effect, note=note)


def numeric_test(window: FeatureColumn, train: FeatureColumn, settings: DriftSettings) -> DriftTest:
    """KS on the values; effect = Wasserstein distance in training standard deviations."""
    name = window.name
    if len(train.values) < 2 or float(np.std(train.values)) == 0.0:
        return categorical_test(window, train, settings, as_strings=True)
    if len(window.values) == 0:
        return _untestable(name, KOLMOGOROV_SMIRNOV, SHIFT_SD, settings.min_shift_sd, "no values in the window")
    result = stats.ks_2samp(window.values, train.values)
    effect = stats.wasserstein_distance(window.values, train.values) / float(np.std(train.values, ddof=1))
    return DriftTest(name, KOLMOGOROV_SMIRNOV, float(result.statistic), float(result.pvalue), SHIFT_SD,
                      effect, settings.min_shift_sd)


def presence_test(window: FeatureColumn, train: FeatureColumn, settings: DriftSettings) -> DriftTest:
    """Fisher's exact test on (missing, present) rows; effect = change of the missing share."""
    name = window.name
    if window.rows == 0 or train.rows == 0:
        return _untestable(name, FISHER_PRESENCE, SHARE_CHANGE, settings.min_share_change, "no rows")
    table = [[window.missing, window.present], [train.missing, train.present]]
    odds, p_value = stats.fisher_exact(table)
    effect = abs(window.missing / window.rows - train.missing / train.rows)
    return DriftTest(name, FISHER_PRESENCE, None if math.isnan(odds) or math.isinf(odds) else float(odds),
                      float(p_value), SHARE_CHANGE, effect, settings.min_share_change)


def category_counts(column: FeatureColumn, as_strings: bool = False) -> Dict[str, int]:
    """Value -> count, with rows lacking a value counted as MISSING_CATEGORY."""
    values = [str(float(v)) for v in column.values] if as_strings else column.values
    names, counts = np.unique(np.asarray(values, dtype=object).astype(str), return_counts=True) \
        if len(values) else ([], [])
    out = {str(n): int(c) for n, c in zip(names, counts)}
    if column.missing:
        out[MISSING_CATEGORY] = column.missing
    return out


def _pooled_table(window: Mapping[str, int], train: Mapping[str, int]) -> Tuple[List[str], np.ndarray]:
    """Categories as columns of a 2 x k table (window, training); unseen and rare ones pooled."""
    unseen = sum(c for v, c in window.items() if v not in train)
    columns = {v: [window.get(v, 0), c] for v, c in train.items()}
    if unseen:
        columns[UNSEEN_CATEGORY] = [unseen, 0]
    n_window, n_train = sum(window.values()), sum(train.values())
    # A column's smaller expected count is its total times the smaller sample's share.
    needed_total = MIN_EXPECTED_COUNT * (n_window + n_train) / max(1, min(n_window, n_train))
    ordered = sorted(columns.items(), key=lambda item: sum(item[1]))
    pooled = [0, 0]
    while ordered and (sum(ordered[0][1]) < needed_total or 0 < sum(pooled) < needed_total):
        counts = ordered.pop(0)[1]
        pooled = [pooled[0] + counts[0], pooled[1] + counts[1]]
    kept = dict(ordered)
    if sum(pooled):
        kept[POOLED_CATEGORY] = pooled
    return list(kept), np.array(list(kept.values())).T.reshape(2, -1)


def total_variation(window: Mapping[str, int], train: Mapping[str, int]) -> float:
    n_window, n_train = sum(window.values()), sum(train.values())
    return 0.5 * sum(abs(window.get(v, 0) / n_window - train.get(v, 0) / n_train) for v in set(window) | set(train))


def categorical_test(window: FeatureColumn, train: FeatureColumn, settings: DriftSettings,
                     as_strings: bool = False) -> DriftTest:
    """Chi-squared on the value counts (missing and unseen values counted); effect = total variation."""
    name = window.name
    window_counts, train_counts = category_counts(window, as_strings), category_counts(train, as_strings)
    if not window_counts or not train_counts:
        side = "window" if not window_counts else "training data"
        return _untestable(name, CHI_SQUARED, TOTAL_VARIATION, settings.min_share_change, f"no rows in the {side}")
    effect = total_variation(window_counts, train_counts)
    categories, table = _pooled_table(window_counts, train_counts)
    if len(categories) < 2:
        result = _untestable(name, CHI_SQUARED, TOTAL_VARIATION, settings.min_share_change,
                             "one category after pooling rare ones: too few rows to test")
        result.effect_size = effect
        return result
    statistic, p_value, _, _ = stats.chi2_contingency(table)
    return DriftTest(name, CHI_SQUARED, float(statistic), float(p_value), TOTAL_VARIATION, effect,
                      settings.min_share_change)


def feature_tests(window: FeatureColumn, train: FeatureColumn, settings: DriftSettings) -> List[DriftTest]:
    if window.kind == CATEGORICAL:
        return [categorical_test(window, train, settings)]
    return [numeric_test(window, train, settings), presence_test(window, train, settings)]


# ---- one verdict per window ---------------------------------------------------------------

def holm(p_values: Sequence[float]) -> List[float]:
    """Holm-Bonferroni adjusted p-values (controls the family-wise error rate under any dependence)."""
    order = np.argsort(p_values)
    count = len(p_values)
    adjusted = [0.0] * count
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (count - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted


def judge(window: Mapping[str, FeatureColumn], train: Mapping[str, FeatureColumn],
          settings: DriftSettings) -> Judgement:
    """Every feature's tests, Holm-adjusted together, each with its verdict."""
    tests = [t for name in window for t in feature_tests(window[name], train[name], settings)]
    testable = [t for t in tests if t.p_value is not None]
    for test, adjusted in zip(testable, holm([t.p_value for t in testable])):
        test.adjusted_p_value = adjusted
        if adjusted >= settings.false_alarm_rate:
            test.verdict = NO_DRIFT
        elif test.effect_size is not None and test.effect_size >= test.min_effect:
            test.verdict = DRIFT
        else:
            test.verdict = SMALL_CHANGE
    return Judgement(tests, settings)


def tests_per_window(train: Mapping[str, FeatureColumn]) -> int:
    """How many tests a window of these features runs (numeric features run two)."""
    return sum(1 if column.kind == CATEGORICAL else 2 for column in train.values())


# ---- how many rows a window needs ---------------------------------------------------------

@dataclass
class RowsNeeded:
    rows: Optional[int]  # None: no window size is enough (the training split is too small)
    by_feature: Dict[str, Optional[int]] = field(default_factory=dict)
    gating: List[str] = field(default_factory=list)  # the features whose need sets `rows`

    @property
    def limiting_feature(self) -> Optional[str]:
        known = {k: self.by_feature[k] for k in self.gating if self.by_feature[k] is not None}
        return max(known, key=known.get) if known else None

    @property
    def undetectable(self) -> List[str]:
        return sorted(k for k in self.gating if self.by_feature[k] is None)


def _window_for(n_train: int, n_effective: float) -> Optional[int]:
    """Window size m with n*m/(n+m) >= n_effective, or None if the training split is too small."""
    if n_effective >= n_train:
        return None
    return max(1, math.ceil(1.0 / (1.0 / n_effective - 1.0 / n_train)))


def ks_values_needed(train_values: np.ndarray, alpha: float, power: float) -> Optional[int]:
    """Values a window needs for KS to catch a REFERENCE_SHIFT_SD shift of this distribution.

    The shift moves the training CDF by D = sup |F(x) - F(x - sd)| (read off the training
    values, so skewed or multimodal features get their own number). KS rejects when the
    observed distance exceeds c(alpha) / sqrt(n_eff); at the point of largest distance the
    estimate's standard error is at most 0.5 / sqrt(n_eff), so
    sqrt(n_eff) >= (c(alpha) + 0.5 z(power)) / D gives at least the wanted detection rate.
    """
    values = np.sort(train_values)
    shift = REFERENCE_SHIFT_SD * float(np.std(values, ddof=1))
    cdf = np.searchsorted(values, values, side="right") / len(values)
    distance = float(np.max(cdf - np.searchsorted(values, values - shift, side="right") / len(values)))
    if distance <= 0.0:
        return None
    n_effective = ((stats.kstwobign.isf(alpha) + 0.5 * stats.norm.ppf(power)) / distance) ** 2
    return _window_for(len(values), n_effective)


def chi_squared_rows_needed(train_counts: Mapping[str, int], alpha: float, power: float) -> Optional[int]:
    """Rows a window needs for chi-squared to catch the rarest value gaining REFERENCE_SHARE_SHIFT.

    Power from the noncentral chi-squared distribution with the two-sample noncentrality
    n_eff * sum((p1 - p0)^2 / pooled share).
    """
    n_train = sum(train_counts.values())
    names = list(train_counts)
    p0 = np.array([train_counts[v] for v in names], dtype=float) / n_train
    values = [i for i, v in enumerate(names) if v != MISSING_CATEGORY]
    rarest = min(values, key=lambda i: p0[i])
    moved = min(1.0, REFERENCE_SHARE_SHIFT / (1.0 - p0[rarest]))
    p1 = p0 * (1.0 - moved)
    p1[rarest] += moved
    dof = len(names) - 1
    critical = stats.chi2.isf(alpha, dof)

    def detection(m: int) -> float:
        pooled = (n_train * p0 + m * p1) / (n_train + m)
        noncentrality = n_train * m / (n_train + m) * float(np.sum((p1 - p0) ** 2 / pooled))
        return float(stats.ncx2.sf(critical, dof, noncentrality))

    low, high = 1, 10 ** 9
    if detection(high) < power:
        return None
    while low < high:
        middle = (low + high) // 2
        low, high = (middle + 1, high) if detection(middle) < power else (low, middle)
    return low


def rows_needed(train: Mapping[str, FeatureColumn], settings: DriftSettings) -> RowsNeeded:
    """The smallest window that catches a one-standard-deviation shift of any numeric feature.

    At the configured rates, with the first (strictest) Holm step, false_alarm_rate / number
    of tests. A numeric feature's value count is divided by its training share of rows with a
    value. Data without numeric features uses the categorical reference change instead.
    Constant features and features with a single category have no reference change. Every
    feature's own need is kept in `by_feature`, categorical ones included.
    """
    alpha = settings.false_alarm_rate / max(1, tests_per_window(train))
    needed: Dict[str, Optional[int]] = {}
    for name, column in train.items():
        if column.kind == CATEGORICAL:
            counts = category_counts(column)
            if len([v for v in counts if v != MISSING_CATEGORY]) >= 2:
                needed[name] = chi_squared_rows_needed(counts, alpha, settings.detection_rate)
        elif len(column.values) >= 2 and float(np.std(column.values)) > 0.0:
            values = ks_values_needed(column.values, alpha, settings.detection_rate)
            needed[name] = None if values is None else math.ceil(values * column.rows / column.present)
    numeric = [n for n in needed if train[n].kind != CATEGORICAL]
    gating = numeric or list(needed)
    if not gating:
        return RowsNeeded(1, needed)
    known = [needed[n] for n in gating if needed[n] is not None]
    return RowsNeeded(max(known) if known else None, needed, gating)
