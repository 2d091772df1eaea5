"""The synthetic data generator: same columns, realistic distributions, seeded, shiftable."""
import pandas as pd
import pytest

from data import generate
from tests.conftest import PENGUINS


@pytest.fixture(scope="module")
def model():
    return generate.fit(PENGUINS)


@pytest.fixture(scope="module")
def source():
    return pd.read_csv(f"{PENGUINS}/penguins.csv")


def test_same_columns_and_seeded(model, source):
    a = generate.sample(model, 500, seed=1)
    assert list(a.columns) == list(source.columns)
    pd.testing.assert_frame_equal(a, generate.sample(model, 500, seed=1))
    assert not a.equals(generate.sample(model, 500, seed=2))


def test_distributions_resemble_the_source(model, source):
    synthetic = generate.sample(model, 20000, seed=0)
    for column in ("bill_length_mm", "body_mass_g"):
        real = source.groupby("species")[column].mean()
        fake = synthetic.groupby("species")[column].mean()
        assert ((fake - real).abs() / real < 0.03).all(), column
    real_islands = source["island"].value_counts(normalize=True)
    fake_islands = synthetic["island"].value_counts(normalize=True)
    assert (fake_islands - real_islands).abs().max() < 0.03
    assert set(synthetic["sex"].dropna()) == {"male", "female"}
    assert 0.01 < synthetic["sex"].isna().mean() < 0.07  # missing values, as in the source (3%)
    assert synthetic["flipper_length_mm"].dropna().mod(1).eq(0).all()  # integer columns stay integer


def test_shift_moves_only_the_named_features(model):
    base = generate.sample(model, 5000, seed=3)
    shifted = generate.sample(model, 5000, seed=3, shift=2.0, shift_features=["body_mass_g", "island"])
    assert shifted["body_mass_g"].mean() - base["body_mass_g"].mean() > 1.5 * base["body_mass_g"].std()
    assert abs(shifted["bill_length_mm"].mean() - base["bill_length_mm"].mean()) < 0.1
    rarest = base["island"].value_counts().idxmin()
    assert (shifted["island"] == rarest).mean() > (base["island"] == rarest).mean() + 0.3


def test_unknown_shift_feature(model):
    with pytest.raises(ValueError, match=r"cannot shift \['wingspan'\]"):
        generate.sample(model, 10, shift=1.0, shift_features=["wingspan"])


def test_cli_writes_a_dataset_folder_and_never_overwrites(tmp_path, capsys):
    out = tmp_path / "gen"
    assert generate.main(["--rows", "50", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["data.csv", "dataset.yaml", "schema.pbtxt"]
    assert len(pd.read_csv(out / "data.csv")) == 50
    before = (out / "data.csv").read_text()
    assert generate.main(["--rows", "10", "--out", str(out)]) == 2
    assert "exists and is not empty" in capsys.readouterr().err
    assert (out / "data.csv").read_text() == before


def test_large_samples_stay_within_the_curated_schema(model):
    """A million-row benchmark must not trip the curated schema's value ranges by chance."""
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2

    with open(f"{PENGUINS}/schema.pbtxt") as f:
        schema = text_format.Parse(f.read(), schema_pb2.Schema())
    frame = generate.sample(model, 200000, seed=5)
    for feature in schema.feature:
        domain = feature.float_domain if feature.HasField("float_domain") else feature.int_domain
        if feature.name in model.numeric:
            assert domain.min <= frame[feature.name].min() and frame[feature.name].max() <= domain.max, feature.name
