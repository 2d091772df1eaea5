"""preprocessing_fn on a tiny in-memory dataset with tf.Transform's Beam implementation."""
import numpy as np
import pytest

from tests.models.model_fixtures import RAW_ROWS


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
    rows, output = transformed
    labels = output.vocabulary_by_name("label")
    assert [labels[r["species"]].decode() for r in rows] == [r["species"] for r in RAW_ROWS]
    assert all("year" not in r and "year_xf" not in r for r in rows)
