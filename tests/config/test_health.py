import pytest

pytestmark = pytest.mark.django_db


def test_it_answers_200_when_database_and_redis_answer(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "redis": "ok"}


def test_it_answers_503_naming_redis_when_redis_is_down(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1

    response = client.get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["redis"]
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"].startswith("error")


def test_it_needs_no_login(client):
    response = client.get("/healthz")

    assert response.status_code != 302
