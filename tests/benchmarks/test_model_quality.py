"""The model-quality benchmark's scoring: the same metrics for the pipeline's model and the baselines."""
import numpy as np
import pytest
import tensorflow as tf

from benchmarks import model_quality as mq


def test_classification_scores_read_the_probabilities_in_the_models_class_order():
    probabilities = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    scores = mq.classification_scores(["no", "yes", "yes", "yes"], ["no", "yes"], probabilities)
    assert scores["accuracy"] == 0.75
    assert scores["auc"] == 1.0  # every 'yes' scores above the 'no'
    assert "auc" not in mq.classification_scores(["a"], ["a", "b", "c"], np.array([[0.5, 0.3, 0.2]]))


def test_regression_scores_and_the_ratio_to_the_better_baseline():
    assert mq.regression_scores([1.0, 2.0, 3.0], [2.0, 2.0, 1.0]) == pytest.approx({"mae": 1.0, "rmse": np.sqrt(5 / 3)})
    regression = mq.Task("regression")
    assert mq.ratio(regression, {"mae": 11.0}, [{"mae": 10.0}, {"mae": 12.0}]) == pytest.approx(1.1)  # lower wins
    binary = mq.Task("classification", ("0", "1"))
    assert binary.metric == "auc" and mq.Task("classification", ("a", "b", "c")).metric == "accuracy"
    assert mq.ratio(binary, {"auc": 0.9}, [{"auc": 0.8}, {"auc": 0.95}]) == pytest.approx(0.9 / 0.95)


def test_decode_reads_raw_examples_as_the_baselines_see_them():
    example = tf.train.Example(features=tf.train.Features(feature={
        "island": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"Dream"])),
        "mass": tf.train.Feature(float_list=tf.train.FloatList(value=[3.5])),
        "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[1])),
        "empty": tf.train.Feature(float_list=tf.train.FloatList(value=[])),
    }))
    assert mq.decode([example.SerializeToString()]) == [{"island": "Dream", "mass": 3.5, "label": 1}]
    assert [mq.label_text(v) for v in (1.0, 1, "yes", 2.5)] == ["1", "1", "yes", "2.5"]


def test_baselines_train_on_one_split_and_score_the_other():
    rng = np.random.default_rng(0)
    rows = [{"x": float(x), "kind": kind, "y": "1" if x + (kind == "b") > 0.5 else "0"}
            for x, kind in zip(rng.normal(size=200), rng.choice(["a", "b"], size=200))]
    rows[0].pop("x")  # a missing number is imputed
    scores = mq.baseline_scores(rows[:150], rows[150:], ["x"], ["kind"], "y", mq.Task("classification", ("0", "1")))
    assert set(scores) == {"hgb", "linear"}
    assert scores["linear"]["auc"] > 0.95 and scores["hgb"]["auc"] > 0.9
