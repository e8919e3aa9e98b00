import pytest
from django.contrib.auth.models import Permission
from django.core.cache import cache
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.factories import UserFactory


@pytest.fixture(autouse=True)
def _generous_rate_limit(settings):
    # the budget per client is counted in Redis, across tests; only the throttling test
    # sets a low one (and clears its own counter)
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"api": "100000/minute"},
    }


def client_for(user) -> APIClient:
    """An integration's client: the user's token in the Authorization header."""
    token, _ = Token.objects.get_or_create(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def integration(db):
    """A push-only service user: may push leads and events, has no role, sees no lead."""
    user = UserFactory(username="webform-bot")
    user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="leads", codename__in=["add_lead", "add_engagementevent"]
        )
    )
    return user


@pytest.fixture
def clear_throttle():
    def clear(user):
        cache.delete(f"throttle_api_user-{user.pk}")

    return clear
