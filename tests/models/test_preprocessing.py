"""preprocessing_fn on a tiny in-memory dataset with tf.Transform's Beam implementation."""
import numpy as np
import pytest

from tests.models.model_fixtures import CLASSES, RAW_ROWS


@pytest.fixture
def transformed(tiny_transform):
    return tiny_transform


def test_numeric_features_are_imputed_and_z_scored(transformed):
    rows, _ = transformed
    values = np.array([r["bill_length_mm_xf"] for r in rows])
    assert np.isfinite(values).all()  # the missing value was imputed
    assert abs(values.mean()) < 1e-5
    present = [i for i, r in enumerate(RAW_ROWS) if r["bill_length_mm"] is not None]
    assert abs(values[present].std() - 1.0) < 0.15
    missing = [i for i, r in enumerate(RAW_ROWS) if r["bill_length_mm"] is None][0]
    assert abs(values[missing]) < 1e-5  # imputed with the mean -> z-score 0


def test_categorical_features_use_vocabularies_with_an_oov_bucket(transformed):
    rows, output = transformed
    vocab = output.vocabulary_by_name("island_vocab")
    assert set(vocab) == {b"Biscoe", b"Dream", b"Torgersen"}
    for raw, row in zip(RAW_ROWS, rows):
        assert vocab[row["island_xf"]].decode() == raw["island"]
    sex_vocab = output.vocabulary_by_name("sex_vocab")
    assert set(sex_vocab) == {b"male", b"female"}
    missing = [i for i, r in enumerate(RAW_ROWS) if r["sex"] is None][0]
    assert rows[missing]["sex_xf"] == len(sex_vocab)  # missing -> the out-of-vocabulary bucket


def test_label_keeps_its_name_and_ignored_columns_are_dropped(transformed):
    rows, _ = transformed
    assert [CLASSES[r["species"]] for r in rows] == [r["species"] for r in RAW_ROWS]
    assert all("year" not in r and "year_xf" not in r for r in rows)


def test_nan_and_infinity_count_as_missing():
    import tensorflow as tf

    from models.preprocessing import _finite

    dense = tf.constant([[1.0], [float("nan")], [float("inf")], [3.0]])
    finite = _finite(dense)
    assert finite.values.numpy().tolist() == [1.0, 3.0] and finite.indices.numpy()[:, 0].tolist() == [0, 3]
    sparse = tf.SparseTensor([[0, 0], [2, 0]], [float("-inf"), 2.0], [3, 1])
    assert _finite(sparse).values.numpy().tolist() == [2.0]


@pytest.mark.parametrize("values, classes, expected", [
    ([b"yes", b"no", b""], ["no", "yes"], [1, 0, -1]),
    ([1, 0, 1], ["0", "1"], [1, 0, 1]),
    ([1.0, 0.0, 2.5], ["0", "1", "2.5"], [1, 0, 2]),  # numbers as TensorFlow prints them
])
def test_classification_label_is_the_index_of_its_class(values, classes, expected):
    import tensorflow as tf

    from models.preprocessing import encode_label

    tensor = tf.constant([[v] for v in values]) if values[0] != b"" else tf.constant([[v] for v in values])
    assert encode_label(tensor, "classification", classes).numpy().tolist() == expected


def test_regression_label_is_the_number():
    import tensorflow as tf

    from models.preprocessing import encode_label

    assert encode_label(tf.constant([[3], [5]], tf.int64), "regression", []).numpy().tolist() == [3.0, 5.0]


def test_vocabularies_keep_the_most_frequent_values_and_share_one_bucket(tmp_path, monkeypatch):
    """A high-cardinality column stays small: past MAX_VOCABULARY values, the rest share the OOV bucket."""
    from models import preprocessing
    from tests.models.model_fixtures import analyze_and_transform

    monkeypatch.setattr(preprocessing, "MAX_VOCABULARY", 2)
    rows, output = analyze_and_transform(str(tmp_path))
    vocab = [v.decode() for v in output.vocabulary_by_name("island_vocab")]
    assert vocab == ["Dream", "Biscoe"]  # the two most frequent islands
    torgersen = [i for i, r in enumerate(RAW_ROWS) if r["island"] == "Torgersen"][0]
    assert rows[torgersen]["island_xf"] == len(vocab)  # the out-of-vocabulary bucket
