"""One configuration: every environment variable the ``bulk`` command reads, in one pydantic-settings model.

Why one model: the variables used to be read in six places with different conventions, and a bad
value (``BULK_MAX_IN_FLIGHT=x``) crashed even ``--help``. Here each variable is declared once with its
type and bounds; values come from the process environment first, then from a ``.env`` file in the
current directory (never committed: it may hold tokens). The model is loaded only when a command runs —
after argparse has handled ``--help`` — and a bad value becomes one :class:`~bulk.errors.ConfigError`
line naming the variable, what it must be and what it got (``BULK_MAX_IN_FLIGHT must be a whole number
≥ 1, got 'x'``). Access tokens are :class:`~pydantic.SecretStr`: no repr, log or error shows them.

Command-line flags win over these values: :mod:`bulk.cli._options` merges the two.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from bulk.errors import ConfigError

ENV_FILE = ".env"


class Settings(BaseSettings):
    """Every ``SHOPIFY_*`` / ``BULK_*`` variable (names are exact; an unset variable is ``None``)."""

    model_config = SettingsConfigDict(
        env_file=ENV_FILE, env_file_encoding="utf-8", extra="ignore", case_sensitive=True,
        env_ignore_empty=True,  # BULK_STATE_DIR= means unset (as before), never the current directory
        frozen=True, populate_by_name=False)

    shop: str | None = Field(None, validation_alias="SHOPIFY_SHOP",
                             description="NAME.myshopify.com, https://…, sim://… or http://127.0.0.1:PORT")
    tokens: SecretStr | None = Field(None, validation_alias="SHOPIFY_ACCESS_TOKENS",
                                     description="comma-separated Admin API access tokens, one per app")
    database_url: str | None = Field(None, validation_alias="BULK_DATABASE_URL",
                                     description="the shared journal of a fleet, postgresql://…")
    redis_url: str | None = Field(None, validation_alias="BULK_REDIS_URL",
                                  description="the shared scheduler of a fleet, redis://…")
    max_in_flight: int = Field(8, ge=1, validation_alias="BULK_MAX_IN_FLIGHT",
                               description="the shop's cap on requests in flight, whole fleet")
    state_dir: Path | None = Field(None, validation_alias="BULK_STATE_DIR",
                                   description="catalog cache, shards, embedded journal")
    journal: str | None = Field(None, validation_alias="BULK_JOURNAL",
                                description="journal path or postgresql:// URL")
    source_database_url: str | None = Field(None, validation_alias="BULK_SOURCE_DATABASE_URL",
                                            description="the database --from-sql runs on")
    sim_tokens: SecretStr | None = Field(None, validation_alias="BULK_SIM_TOKENS",
                                         description="access tokens a served simulated shop accepts")

    def value(self, name: str) -> Any:
        """The plain value of field ``name`` (a secret revealed: only to hand it to the library)."""
        raw = getattr(self, name)
        return raw.get_secret_value() if isinstance(raw, SecretStr) else raw


# What each typed variable must be, in the user's words (strings need no sentence: anything goes).
_MUST_BE = {
    "max_in_flight": "a whole number ≥ 1",
    "state_dir": "a directory path",
}


def env_name(field: str) -> str:
    """The environment variable behind a settings field (``max_in_flight`` → ``BULK_MAX_IN_FLIGHT``)."""
    alias = Settings.model_fields[field].validation_alias
    assert isinstance(alias, str)
    return alias


def load_settings(env_file: str | Path | None = ENV_FILE) -> Settings:
    """The environment (and ``.env``), validated; a bad value raises :class:`ConfigError` in plain words."""
    try:
        return Settings(_env_file=env_file)  # type: ignore[call-arg]  # pydantic-settings' init option
    except ValidationError as exc:
        raise ConfigError(_explain(exc)) from None  # the pydantic text repeats the input: enough said
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{env_file}: cannot read the settings file ({exc})") from None


def _explain(exc: ValidationError) -> str:
    problems = []
    by_alias = {f.validation_alias: name for name, f in Settings.model_fields.items()}
    for error in exc.errors():
        alias = str(error["loc"][0]) if error["loc"] else "?"
        field = by_alias.get(alias, alias)
        must = _MUST_BE.get(field, "valid")
        got = "" if field in {"tokens", "sim_tokens"} else f", got {error.get('input')!r}"
        problems.append(f"{alias} must be {must}{got}")
    return "; ".join(problems)
