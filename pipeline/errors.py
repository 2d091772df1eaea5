"""The error every configuration check raises (pipeline/config.py, pipeline/tuning_config.py)."""


class ConfigError(ValueError):
    """A configuration or dataset problem the user can fix; its message says how."""
