"""Input and output checks shared by REST, gRPC and the raw-feature form."""
import os

import numpy as np
import pytest
from tensorflow.core.framework import tensor_shape_pb2

from serving.raw_features import RawFeatures
from serving.server.errors import ServingError
from serving.server.validation import check_dims, check_input_values, check_outputs, dims
from tests.conftest import PENGUINS

ROW = {"island": "Biscoe", "bill_length_mm": 45.2, "bill_depth_mm": 15.8, "flipper_length_mm": 215,
       "body_mass_g": 5300, "sex": "male"}


@pytest.fixture(scope="module")
def features():
    return RawFeatures.from_file(os.path.join(PENGUINS, "schema.pbtxt"))


def shape(*dims, unknown_rank=False):
    proto = tensor_shape_pb2.TensorShapeProto(unknown_rank=unknown_rank)
    for d in dims:
        proto.dim.add().size = d
    return proto


def test_shapes_that_fit_the_signature_pass():
    check_dims("examples", np.empty([3], object), dims(shape(-1)), examples=True)
    check_dims("x", np.empty([2, 4]), dims(shape(-1, 4)), examples=False)
    check_dims("x", np.empty([2, 4, 5]), dims(shape(unknown_rank=True)), examples=False)


@pytest.mark.parametrize("value, expected, examples, message", [
    (np.empty([2, 1], object), shape(-1), True,
     "examples must be a vector of serialized tf.Example strings, got shape [2, 1]"),
    (np.array(b"x", object), shape(-1), True, "examples must be a vector of serialized tf.Example strings, got shape []"),
    (np.empty([2, 3]), shape(-1, 4), False, "input 'x' must have shape [-1, 4] (-1: any size), got shape [2, 3]"),
])
def test_wrong_shapes_are_invalid_argument(value, expected, examples, message):
    name = "examples" if examples else "x"
    with pytest.raises(ServingError) as error:
        check_dims(name, value, dims(expected), examples)
    assert error.value.code == "INVALID_ARGUMENT" and error.value.message == message


def test_non_finite_float_tensors_are_refused(features):
    check_input_values("x", np.array([1.0, 2.0], np.float32), features, examples=False)
    with pytest.raises(ServingError, match="input 'x' holds nan; non-finite numbers are refused"):
        check_input_values("x", np.array([1.0, np.nan], np.float32), features, examples=False)


def test_non_finite_floats_inside_examples_are_refused_with_the_feature_named(features):
    example = features.to_example(ROW)
    example.features.feature["bill_length_mm"].float_list.value[0] = float("inf")
    good = features.to_example(ROW).SerializeToString()
    with pytest.raises(ServingError, match="examples: instance 1: feature 'bill_length_mm' is inf"):
        check_input_values("examples", np.array([good, example.SerializeToString()], object), features, True)


def test_non_finite_outputs_are_never_answered():
    check_outputs({"probabilities": np.array([[0.2, 0.8]], np.float32), "classes": np.array([b"a"], object)})
    with pytest.raises(ServingError) as error:
        check_outputs({"probabilities": np.array([[0.2, 0.8], [np.nan, np.nan]], np.float32)})
    assert error.value.code == "INVALID_ARGUMENT"
    assert "output 'probabilities' is not finite for instance 1, so no prediction is returned" in error.value.message
