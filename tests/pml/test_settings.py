import pytest
from pydantic import ValidationError

from pml.auth.tokens import DevelopmentKeyRefused, load_development_key
from pml.settings import Environment, Settings


def test_production_refuses_every_development_shortcut() -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(environment=Environment.PRODUCTION)
    message = str(refused.value)
    for variable in ("PML_DATABASE_URL", "PML_AUTH_ALLOW_DEVELOPMENT_KEY", "PML_AUTH_JWKS",
                     "PML_ALLOW_SYNTHETIC_NATIONAL_IDS"):
        assert variable in message


def test_production_settings_that_are_complete_are_accepted(tmp_path: object) -> None:
    settings = Settings(
        environment=Environment.PRODUCTION,
        database_url="postgresql://db/pml",
        auth_allow_development_key=False,
        auth_jwks_url="https://helseid.example/jwks",
        allow_synthetic_national_ids=False,
    )
    with pytest.raises(DevelopmentKeyRefused):
        load_development_key(settings)
