"""Package metadata for the TFX pipeline template.

Pins are the set tfx 1.16.0 was tested with (see requirements.lock for the full,
resolved set every machine installs).
"""
from setuptools import find_packages, setup

setup(
    name="tfx-pipeline-template",
    version="0.1.0",
    description="An end-to-end TFX pipeline: CSV to a served, monitored model.",
    python_requires=">=3.9,<3.11",
    packages=find_packages(include=["pipeline*", "runs*", "models*", "serving*", "monitoring*", "data*",
                                    "benchmarks*"]),
    py_modules=["local_runner", "kubeflow_runner"],
    package_data={"data": ["*/*.csv", "*/*.pbtxt", "*/*.yaml"]},
    install_requires=[
        "tfx[kfp]==1.16.0",
        "apache-beam[gcp]==2.59.0",
        "tensorflow==2.16.2",
        "tf-keras==2.16.0",
        "tensorflow-data-validation==1.16.1",
        "tensorflow-model-analysis==0.47.1",
        "tensorflow-transform==1.16.0",
        "tensorflow-serving-api==2.16.1",
        "ml-metadata==1.16.0",
        "protobuf==3.20.3",
        "numpy==1.26.4",
        "pyarrow==10.0.1",
        "pyyaml>=6",
        "prometheus-client>=0.20",
        "scipy>=1.11",  # the drift monitor's two-sample tests (monitoring/drift_statistics.py)
        "httptools>=0.6",  # the REST server's HTTP/1.1 parser (serving/server/http_server.py)
        "orjson>=3.9",  # REST bodies and request-log lines: a tenth of json's time per request
    ],
    extras_require={
        "dev": [
            "pytest>=8",
            "pytest-timeout>=2.3",
            "nbclient>=0.10",
            "nbformat>=5.10",
            "ipykernel>=6",
            "psutil>=5.9",  # benchmarks: memory of the whole process tree
            "mkdocs>=1.6,<2",  # the documentation site (make docs); material does not support MkDocs 2
            "mkdocs-material>=9.5",
        ],
    },
)
