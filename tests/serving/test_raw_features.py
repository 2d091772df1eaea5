import os
import struct

import pytest

from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from serving.example_rows import example_to_row, parse_examples
from serving.raw_features import FeatureError, RawFeatures

from tests.conftest import REPO_ROOT as REPO
SCHEMA = os.path.join(REPO, "data", "penguins", "schema.pbtxt")
CSV = os.path.join(REPO, "data", "penguins", "penguins.csv")
ROW = {"island": "Biscoe", "bill_length_mm": 45.2, "bill_depth_mm": 15.8, "flipper_length_mm": 215,
       "body_mass_g": 5300, "sex": "male"}


@pytest.fixture(scope="module")
def features():
    return RawFeatures.from_file(SCHEMA)


def test_serving_environment_excludes_label_and_unused(features):
    assert set(features.names) == set(ROW)
    assert features.specs["island"].required and not features.specs["sex"].required


def test_row_roundtrips_through_example(features):
    example = features.to_example(ROW)
    assert example.features.feature["flipper_length_mm"].int64_list.value == [215]
    assert example.features.feature["bill_length_mm"].float_list.value[0] == pytest.approx(45.2)
    assert example_to_row(example) == ROW


def test_missing_optional_values_are_left_out(features):
    example = features.to_example({**ROW, "sex": None, "body_mass_g": []})
    assert "sex" not in example.features.feature and "body_mass_g" not in example.features.feature


def test_a_row_as_it_appears_in_the_training_csv_is_accepted(features):
    """The label and the ignored columns (not in SERVING) are columns of the CSV: accepted and dropped."""
    example = features.to_example({**ROW, "species": "Adelie", "year": 2009})
    assert set(example.features.feature) == set(ROW)
    assert features.to_example({**ROW, "species": "Adelie", "year": 2009}) == features.to_example(ROW)


def test_integral_float_accepted_for_int_feature(features):
    assert features.to_example({**ROW, "flipper_length_mm": 215.0}).features.feature[
        "flipper_length_mm"].int64_list.value == [215]


@pytest.mark.parametrize("row, message", [
    ({k: v for k, v in ROW.items() if k != "island"}, "missing required feature 'island'"),
    ({**ROW, "colour": "grey"}, "unknown feature(s) ['colour']"),
    ({**ROW, "island": 3}, "feature 'island' expects a string"),
    ({**ROW, "bill_length_mm": "long"}, "feature 'bill_length_mm' expects a number"),
    ({**ROW, "flipper_length_mm": 215.5}, "feature 'flipper_length_mm' expects an integer"),
    ({**ROW, "flipper_length_mm": True}, "feature 'flipper_length_mm' expects an integer"),
    ({**ROW, "sex": ["male", "female"]}, "feature 'sex' takes at most 1 value(s)"),
    ([1, 2], "expected a JSON object"),
    ({**ROW, "bill_length_mm": float("nan")}, "feature 'bill_length_mm' is nan; non-finite numbers are refused"),
    ({**ROW, "bill_depth_mm": float("-inf")}, "feature 'bill_depth_mm' is -inf"),
    ({**ROW, "bill_depth_mm": 1e39}, "feature 'bill_depth_mm' = 1e+39 does not fit a 32-bit float"),
    ({**ROW, "bill_depth_mm": 10 ** 400}, "feature 'bill_depth_mm' = an integer of about 401 digits does not fit"),
    ({**ROW, "body_mass_g": 2 ** 63}, "feature 'body_mass_g' = 9223372036854775808 does not fit a 64-bit integer"),
    ({**ROW, "body_mass_g": float("inf")}, "feature 'body_mass_g' expects an integer, got inf"),
    ({**ROW, "island": "\ud800"}, "feature 'island' is not valid Unicode (surrogates not allowed: '\\ud800'"),
])
def test_bad_rows_are_rejected_with_the_feature_named(features, row, message):
    with pytest.raises(FeatureError) as error:
        features.to_example(row)
    assert message in str(error.value)


def test_int64_limits_are_accepted(features):
    assert features.to_example({**ROW, "body_mass_g": -2 ** 63}).features.feature["body_mass_g"].int64_list.value


def test_check_serialized_accepts_examples_and_missing_values(features):
    features.check_serialized([features.to_example(ROW).SerializeToString(),
                               features.to_example({**ROW, "bill_length_mm": None}).SerializeToString(),
                               features.to_example({"island": "Dream"}).SerializeToString()])


def test_check_serialized_refuses_an_example_that_carries_none_of_the_features(features):
    """The model would answer it from its biases alone: an empty example, empty value lists,
    or only columns the model does not take (the label) say nothing about the instance."""
    empty_lists = features.to_example(ROW)
    for feature in empty_lists.features.feature.values():
        feature.ClearField(feature.WhichOneof("kind"))
        feature.float_list.SetInParent()
    only_label = features.to_example(ROW)
    only_label.features.Clear()
    only_label.features.feature["species"].bytes_list.value.append(b"Adelie")
    for data in (b"", empty_lists.SerializeToString(), only_label.SerializeToString()):
        with pytest.raises(FeatureError, match=r"instance 1 carries none of the model's features \(island, .*\); "
                                               r"send at least one"):
            features.check_serialized([features.to_example(ROW).SerializeToString(), data])


@pytest.mark.parametrize("data, message", [
    (b"hello", "instance 1 is not a serialized tf.Example"),  # protobuf alone would keep it as unknown fields
    (b"\xff\xfe\x00garbage", "instance 1 is not a serialized tf.Example"),
    ("text, not bytes", "instance 1 is not a serialized tf.Example"),
])
def test_check_serialized_refuses_what_is_not_a_tf_example(features, data, message):
    with pytest.raises(FeatureError, match=message):
        features.check_serialized([features.to_example(ROW).SerializeToString(), data])


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_check_serialized_refuses_non_finite_floats(features, value):
    example = features.to_example(ROW)
    example.features.feature["bill_depth_mm"].float_list.value[0] = value
    with pytest.raises(FeatureError, match=f"instance 0: feature 'bill_depth_mm' is {value}"):
        features.check_serialized([example.SerializeToString()])


def test_serialize_names_the_instance(features):
    with pytest.raises(FeatureError, match="instance 1: "):
        features.serialize([ROW, {**ROW, "island": None}])


def test_read_csv_types_values_and_keeps_missing(features):
    rows = features.read_csv(CSV)
    assert len(rows) == 344
    assert rows[0] == {"island": "Torgersen", "bill_length_mm": 39.1, "bill_depth_mm": 18.7,
                       "flipper_length_mm": 181, "body_mass_g": 3750, "sex": "male"}
    assert rows[3]["bill_length_mm"] is None and rows[3]["island"] == "Torgersen"
    features.serialize(rows)  # every bundled row is valid model input


def test_read_csv_reports_bad_value_with_line(features, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("island,bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g,sex\n"
                    "Biscoe,long,15,200,4000,male\n")
    with pytest.raises(FeatureError, match=r"bad.csv:2: "):
        features.read_csv(str(path))


def test_read_csv_requires_required_columns(features, tmp_path):
    path = tmp_path / "no_island.csv"
    path.write_text("bill_length_mm\n40\n")
    with pytest.raises(FeatureError, match="lacks the required column"):
        features.read_csv(str(path))


def test_sample_row_is_valid_input(features):
    features.to_example(features.sample_row())


def test_parse_examples_marks_garbage_as_none(features):
    rows = parse_examples([features.to_example(ROW).SerializeToString(), b"\xff\xfe not a proto"])
    assert rows[0] == ROW and rows[1] is None


def test_inferred_schema_presence_sends_missing_values_as_empty_lists():
    """SchemaGen on CSV data: every example has `sex`, some with no value (an empty CSV field)."""
    schema = text_format.Parse('''
        feature { name: "sex" type: BYTES presence { min_fraction: 1.0 min_count: 1 } }
        feature { name: "mass" type: INT value_count { min: 1 max: 1 } presence { min_fraction: 1.0 } }
    ''', schema_pb2.Schema())
    features = RawFeatures(schema)
    example = features.to_example({"mass": 4000})
    assert example.features.feature["sex"].HasField("bytes_list")
    assert list(example.features.feature["sex"].bytes_list.value) == []
    with pytest.raises(FeatureError, match="missing required feature 'mass'"):
        features.to_example({"sex": "male"})


@pytest.mark.parametrize("bits", [0x7FC00001, 0xFFC12345, 0x7F800001, 0x7FFFFFFF])  # NaNs with payloads
def test_check_serialized_refuses_every_nan_bit_pattern(features, bits):
    """The byte screen that skips reading floats must let no NaN through, whatever its payload."""
    example = features.to_example(ROW)
    nan = struct.unpack("<f", struct.pack("<I", bits))[0]
    example.features.feature["bill_depth_mm"].float_list.value[0] = nan
    with pytest.raises(FeatureError, match="instance 0: feature 'bill_depth_mm' is nan"):
        features.check_serialized([example.SerializeToString()])


def test_bytes_that_look_non_finite_but_are_not_pass_the_check(features):
    """16383 is the varint ff 7f, the screen's pattern: the floats are then read, and are finite."""
    example = features.to_example({**ROW, "flipper_length_mm": 16383})
    data = example.SerializeToString()
    assert b"\xff\x7f" in data
    features.check_serialized([data])


CODED_CATEGORIES = """
feature { name: "grade" type: FLOAT }
feature { name: "zone" type: INT int_domain { is_categorical: true } }
feature { name: "plan" type: BYTES }
"""


def test_categories_coded_as_floats_integers_and_strings_keep_their_schema_type(tmp_path):
    """The smoke test's and the client's rows come from read_csv, the server's warm-up from sample_row:
    a category that pandas wrote as 1.0 is a FLOAT feature and must reach the model as a float."""
    coded = RawFeatures(text_format.Parse(CODED_CATEGORIES, schema_pb2.Schema()))
    path = tmp_path / "coded.csv"
    path.write_text("grade,zone,plan\n1.0,3,yearly\n2.0,1,monthly\n")
    rows = coded.read_csv(str(path))
    assert rows[0] == {"grade": 1.0, "zone": 3, "plan": "yearly"}
    for row in rows + [coded.sample_row()]:
        feature = coded.to_example(row).features.feature
        assert [f.WhichOneof("kind") for f in (feature["grade"], feature["zone"], feature["plan"])] == [
            "float_list", "int64_list", "bytes_list"]
