"""TF Serving's model config file: policies and labels read, every mistake named with its line."""
import pytest

from serving.server.model_config import ConfigError, VersionPolicy, parse, read, single_model


@pytest.fixture
def bases(tmp_path):
    """Two model base paths; the first holds versions 1, 2 and 3."""
    for version in (1, 2, 3):
        (tmp_path / "a" / str(version)).mkdir(parents=True)
    (tmp_path / "b").mkdir()
    return tmp_path / "a", tmp_path / "b"


def config_text(a, b, a_extra="", b_extra=""):
    return (f'model_config_list {{\n'
            f'  config {{\n'
            f'    name: "a"\n'
            f'    base_path: "{a}"\n'
            f'    model_platform: "tensorflow"\n'
            f'{a_extra}'
            f'  }}\n'
            f'  config {{\n'
            f'    name: "b"\n'
            f'    base_path: "{b}"\n'
            f'{b_extra}'
            f'  }}\n'
            f'}}\n')


def test_reads_models_policies_and_labels(bases):
    a, b = bases
    config = parse(config_text(
        a, b,
        a_extra='    model_version_policy { specific { versions: 1 versions: 3 } }\n'
                '    version_labels { key: "stable" value: 1 }\n'
                '    version_labels { key: "canary" value: 3 }\n',
        b_extra='    model_version_policy { latest { num_versions: 2 } }\n'))
    first, second = config.models
    assert (first.name, first.base_path, first.policy) == ("a", str(a), VersionPolicy("specific", versions=(3, 1)))
    assert first.labels == {"stable": 1, "canary": 3}
    assert (second.name, second.policy, second.labels) == ("b", VersionPolicy("latest", num_versions=2), {})


def test_policies_choose_versions():
    present = [5, 4, 3, 2]
    assert VersionPolicy().candidates(present) == present and VersionPolicy().limit == 1
    assert VersionPolicy("latest", num_versions=3).limit == 3
    assert VersionPolicy("specific", versions=(4, 2, 9)).candidates(present) == [4, 2]
    assert VersionPolicy("specific", versions=(4, 2)).limit is None
    assert VersionPolicy("all").candidates(present) == present and VersionPolicy("all").limit is None


def test_default_and_zero_latest_serve_one_version_as_tf_serving_does(bases):
    a, b = bases
    config = parse(config_text(a, b, a_extra="    model_version_policy { latest { } }\n",
                               b_extra="    model_version_policy { all { } }\n"))
    assert [m.policy for m in config.models] == [VersionPolicy("latest", 1), VersionPolicy("all")]


BAD = [
    ("syntax", lambda a, b: config_text(a, b, a_extra="    model_version_policy { latest { num_versions: two } }\n"),
     "line 6: '    model_version_policy { latest { num_versions: two } }': Couldn't parse integer: two"),
    ("unknown field", lambda a, b: config_text(a, b, b_extra="    base_paht: \"x\"\n"),
     'line 10: Message type "tensorflow.serving.ModelConfig" has no field named "base_paht"'),
    ("duplicate name", lambda a, b: config_text(a, b).replace('name: "b"', 'name: "a"'),
     "line 7: model name 'a' is configured twice"),
    ("missing base_path", lambda a, b: config_text(a, b).replace(f'base_path: "{b}"', ""),
     "line 7: model 'b' has no base_path"),
    ("base_path not a directory", lambda a, b: config_text(a, str(b) + "/missing"),
     "line 7: base_path of model 'b' is not a directory"),
    ("label on a missing version", lambda a, b: config_text(a, b, a_extra='    version_labels { key: "canary" value: 7 }\n'),
     "line 6: label 'canary' of model 'a' points at version 7, which is not under"),
    ("label outside the policy", lambda a, b: config_text(
        a, b, a_extra='    model_version_policy { specific { versions: 2 } }\n'
                      '    version_labels { key: "stable" value: 1 }\n'),
     "line 7: label 'stable' of model 'a' points at version 1, which its policy does not serve (specific 2)"),
    ("empty specific", lambda a, b: config_text(a, b, a_extra="    model_version_policy { specific { } }\n"),
     "line 6: model 'a': specific { } lists no versions"),
    ("other platform", lambda a, b: config_text(a, b).replace('"tensorflow"', '"pytorch"'),
     "line 2: model_platform 'pytorch' of model 'a' is not served here"),
    ("unusable name", lambda a, b: config_text(a, b).replace('name: "b"', 'name: "b/c"'),
     "line 7: model name 'b/c' cannot be used in a URL path"),
    ("no models", lambda a, b: "model_config_list { }\n", "no models"),
    ("custom config", lambda a, b: 'custom_model_config { type_url: "x" }\n',
     "line 1: custom_model_config is not supported"),
]


@pytest.mark.parametrize("name, make, message", BAD, ids=[b[0] for b in BAD])
def test_a_bad_file_is_one_line_naming_the_line_at_fault(bases, tmp_path, name, make, message):
    path = tmp_path / "models.config"
    path.write_text(make(*bases))
    with pytest.raises(ConfigError) as error:
        read(str(path))
    text = str(error.value)
    assert text.startswith(str(path)) and message in text and "\n" not in text


def test_unreadable_file_and_missing_single_model_base_path(tmp_path):
    with pytest.raises(ConfigError, match="cannot read it"):
        read(str(tmp_path / "missing.config"))
    with pytest.raises(ConfigError, match="is not a directory.*make run"):
        single_model("m", str(tmp_path / "nothing"))
