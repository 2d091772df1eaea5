"""CsvExampleGen that leaves out the rows without a label value.

Such a row can be neither learned from nor scored, and TFX has no option to drop it:
Transform maps rows one to one and the Evaluator reads ExampleGen's output, so the
only place that keeps it out of statistics, training and evaluation alike is ExampleGen.
This is TFX's CSV reader with one filter after it; the pre-flight check counts the rows
it drops. The node keeps the id CsvExampleGen.
"""
from __future__ import annotations

import apache_beam as beam
from google.protobuf import any_pb2, json_format, wrappers_pb2
from tfx.components.example_gen.component import FileBasedExampleGen
from tfx.components.example_gen.csv_example_gen import executor as csv_executor
from tfx.dsl.components.base import executor_spec
from tfx.proto import example_gen_pb2
from tfx.types import standard_component_specs

NODE_ID = "CsvExampleGen"


def has_value(example, label: str) -> bool:
    feature = example.features.feature.get(label)
    kind = feature.WhichOneof("kind") if feature is not None else None
    return bool(kind and getattr(feature, kind).value)


def _label(exec_properties) -> str:
    config = example_gen_pb2.CustomConfig()
    json_format.Parse(exec_properties[standard_component_specs.CUSTOM_CONFIG_KEY], config)
    label = wrappers_pb2.StringValue()
    config.custom_config.Unpack(label)
    return label.value


class Executor(csv_executor.Executor):
    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
        read_csv = super().GetInputSourceToExamplePTransform()

        @beam.ptransform_fn
        def read_labelled_csv(pipeline, exec_properties, split_pattern):
            return (pipeline
                    | "CsvToExample" >> read_csv(exec_properties, split_pattern)
                    | "DropUnlabelled" >> beam.Filter(has_value, _label(exec_properties)))

        return read_labelled_csv


def labelled_csv_example_gen(label: str, **kwargs) -> FileBasedExampleGen:
    """CsvExampleGen's arguments (input_base, input_config, output_config ...) plus the label column."""
    packed = any_pb2.Any()
    packed.Pack(wrappers_pb2.StringValue(value=label))
    return FileBasedExampleGen(
        custom_config=example_gen_pb2.CustomConfig(custom_config=packed),
        custom_executor_spec=executor_spec.BeamExecutorSpec(Executor),
        **kwargs,
    ).with_id(NODE_ID)
