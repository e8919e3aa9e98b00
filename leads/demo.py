"""Demo data for `manage.py seed_demo`: development only, known passwords."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from .roles import MARKETING_OPS, SALES_MANAGER, SALES_REP

DEMO_PASSWORD = "handoff-demo"

# username, first name, last name, role, is_staff (marketing ops works in the admin)
DEMO_USERS = (
    ("marketing", "Mia", "Marsh", MARKETING_OPS, True),
    ("manager", "Max", "Moreno", SALES_MANAGER, False),
    ("rep", "Rita", "Reyes", SALES_REP, False),
)


def create_users() -> list:
    User = get_user_model()
    users = []
    for username, first, last, role, is_staff in DEMO_USERS:
        user, created = User.objects.get_or_create(
            username=username,
            defaults={
                "first_name": first,
                "last_name": last,
                "email": f"{username}@demo.handoff.test",
                "is_staff": is_staff,
            },
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save(update_fields=["password"])
        user.groups.add(Group.objects.get(name=role))
        users.append(user)
    return users
