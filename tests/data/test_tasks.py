"""Tasks inferred from the label, classes in the model's order, metrics looked up by the names people write."""
import pytest

from data import tasks
from data.csv_checks import MAX_CLASSES, DataError, LabelProfile
from models import features


def _label(values, column="y") -> LabelProfile:
    profile = LabelProfile(column)
    for line, value in enumerate(values, start=2):
        profile.add(value, "data.csv", line)
    return profile


@pytest.mark.parametrize("values, task, kind", [
    (["Adelie", "Gentoo", "Chinstrap"], tasks.CLASSIFICATION, tasks.MULTICLASS),
    (["0", "1", "1", ""], tasks.CLASSIFICATION, tasks.BINARY),
    (["yes", "no"], tasks.CLASSIFICATION, tasks.BINARY),
    (["True", "False"], tasks.CLASSIFICATION, tasks.BINARY),
    (["1.5", "2", "3"], tasks.REGRESSION, tasks.REGRESSION),
    ([str(i) for i in range(tasks.MAX_INFERRED_CLASSES + 1)], tasks.REGRESSION, tasks.REGRESSION),
    ([str(i) for i in range(tasks.MAX_INFERRED_CLASSES)], tasks.CLASSIFICATION, tasks.MULTICLASS),
])
def test_task_is_inferred_from_the_label(values, task, kind):
    target = tasks.resolve(_label(values))
    assert (target.task, target.kind) == (task, kind)
    assert target.reason


@pytest.mark.parametrize("values, positive", [
    (["0", "1", "1"], "1"),
    (["1", "0", "0"], "1"),
    (["1.0", "0.0"], "1"),
    (["no", "yes", "yes"], "yes"),
    (["Yes", "No"], "Yes"),
    (["TRUE", "FALSE"], "TRUE"),
    (["<=50K", "<=50K", ">50K"], ">50K"),  # the rarer class
    (["-1", "1"], "1"),
])
def test_positive_class_of_a_binary_label(values, positive):
    target = tasks.resolve(_label(values), tasks.CLASSIFICATION)
    assert target.positive_class == positive and target.classes[-1] == positive


def test_positive_class_can_be_chosen():
    assert tasks.resolve(_label(["a", "b", "b"]), None, "b").classes == ("a", "b")
    with pytest.raises(DataError, match="positive_class 'c' is not a value of 'y'"):
        tasks.resolve(_label(["a", "b"]), None, "c")
    with pytest.raises(DataError, match="positive_class is for binary labels"):
        tasks.resolve(_label(["a", "b", "c"]), None, "c")


def test_numeric_classes_are_ordered_by_value_as_tensorflow_prints_them():
    assert tasks.resolve(_label(["10", "2", "1.0"]), tasks.CLASSIFICATION).classes == ("1", "2", "10")


def test_single_class_is_refused():
    with pytest.raises(DataError, match="label column 'y' has the single value 'a' in all 2 labelled rows"):
        tasks.resolve(_label(["a", "a", ""]))


def test_regression_needs_numbers():
    with pytest.raises(DataError, match=r"label column 'y' is not numeric \(first: data.csv:3 \('abc'\)\)"):
        tasks.resolve(_label(["1.5", "abc"]), tasks.REGRESSION)


def test_non_finite_label_is_refused():
    with pytest.raises(DataError, match="non-finite value data.csv:3"):
        tasks.resolve(_label(["1.5", "inf", "2"]))


def test_too_many_classes_suggests_regression():
    values = [f"v{i}" for i in range(MAX_CLASSES + 1)]
    with pytest.raises(DataError, match="too many classes to learn: if it is a quantity, use task: regression"):
        tasks.resolve(_label(values))


@pytest.mark.parametrize("name, canonical", [
    ("accuracy", "accuracy"), ("sparse_categorical_accuracy", "accuracy"), ("SparseCategoricalAccuracy", "accuracy"),
    ("AUC", "auc"), ("rmse", "root_mean_squared_error"), ("MeanAbsoluteError", "mean_absolute_error"),
    ("Mean Squared Error", "mean_squared_error"),
])
def test_metric_names_people_write(name, canonical):
    assert tasks.find_metric(name).name == canonical


def test_unknown_metric_lists_what_is_accepted():
    with pytest.raises(DataError) as info:
        tasks.find_metric("f1")
    assert "unknown metric 'f1'; accepted: accuracy, auc" in str(info.value)


def test_metric_must_fit_the_kind_of_task():
    multiclass = tasks.resolve(_label(["a", "b", "c"]))
    with pytest.raises(DataError, match="metric 'auc' does not fit a multi-class classification task"):
        tasks.check_metric_fits("auc", multiclass)
    assert tasks.check_metric_fits("auc", tasks.resolve(_label(["0", "1"]))).positive_class


def test_every_task_has_a_default_metric_that_fits():
    for kind, name in tasks.DEFAULT_METRIC.items():
        assert kind in tasks.find_metric(name).kinds


def test_model_code_names_the_tasks_as_the_pipeline_does():
    assert (features.CLASSIFICATION, features.REGRESSION) == (tasks.CLASSIFICATION, tasks.REGRESSION)
