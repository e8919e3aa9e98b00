import pytest
from django.contrib.auth.models import Group

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/", "/admin/"])
def test_it_sends_anonymous_visitors_to_login(client, path):
    response = client.get(path)

    assert response.status_code == 302
    assert "login" in response["Location"]


def test_it_shows_the_login_page_to_anonymous_visitors(client):
    response = client.get("/login/")

    assert response.status_code == 200
    assert b'name="username"' in response.content


def test_it_has_the_three_roles_after_migrate():
    names = set(Group.objects.values_list("name", flat=True))

    assert {"Marketing ops", "Sales rep", "Sales manager"} <= names


def test_it_signs_in_and_out(client, django_user_model):
    django_user_model.objects.create_user("ann", password="a-long-password-1")

    response = client.post("/login/", {"username": "ann", "password": "a-long-password-1"})
    assert response.status_code == 302
    assert client.get("/").status_code == 200

    client.post("/logout/")
    assert client.get("/").status_code == 302
