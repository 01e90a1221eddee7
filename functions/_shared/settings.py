"""Environment variables read once, at cold start, into a typed pydantic model.

A function whose environment is wrong should fail when it starts, naming the variable, rather
than on the first event that happens to need the setting.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from functions._shared.errors import ConfigurationError

SettingsT = TypeVar("SettingsT", bound=BaseModel)


def load_settings(model: type[SettingsT], environ: Mapping[str, str] | None = None) -> SettingsT:
    """Build ``model`` from the environment; each field's alias is its variable's name.

    Raises :class:`ConfigurationError` that names every missing or invalid variable.

    Example::

        class Settings(BaseModel):
            table_name: str = Field(alias="DEDUPE_TABLE_NAME")

        settings = load_settings(Settings, {"DEDUPE_TABLE_NAME": "stepflow-dev-dedupe"})
    """
    source = os.environ if environ is None else environ
    names = [field.alias or name for name, field in model.model_fields.items()]
    values = {name: source[name] for name in names if name in source}
    try:
        return model.model_validate(values)
    except ValidationError as error:
        problems = []
        for detail in error.errors(include_url=False):
            variable = ".".join(str(part) for part in detail["loc"])
            if detail["type"] == "missing":
                problems.append(f"environment variable {variable} is not set")
            else:
                problems.append(f"environment variable {variable}: {detail['msg']}")
        raise ConfigurationError(f"{model.__name__} cannot start: " + "; ".join(problems)) from None
