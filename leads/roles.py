"""The three roles of handoff, as Django groups.

The groups themselves are created by a migration (leads/migrations/0001_roles.py); the
model permissions each role holds are declared here and synchronised after every
migrate, because permissions of a newly added model do not exist until post_migrate.
"""

from __future__ import annotations

from typing import Any

MARKETING_OPS = "Marketing ops"
SALES_REP = "Sales rep"
SALES_MANAGER = "Sales manager"
ROLES = (MARKETING_OPS, SALES_REP, SALES_MANAGER)

# "app_label.codename" per role. Object-level rules (a rep sees own leads only) are
# enforced by services and selectors; these are the coarse model permissions the admin
# and has_perm() use.
ROLE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    MARKETING_OPS: ("auth.view_user",),
    SALES_REP: (),
    SALES_MANAGER: ("auth.view_user",),
}


def sync_role_permissions(sender: Any = None, using: str = "default", **kwargs: Any) -> None:
    from django.contrib.auth.models import Group, Permission

    wanted = {p for perms in ROLE_PERMISSIONS.values() for p in perms}
    found = {
        f"{app_label}.{codename}": pk
        for pk, app_label, codename in Permission.objects.using(using).values_list(
            "pk", "content_type__app_label", "codename"
        )
    }
    if wanted - found.keys():
        # Not every app has been migrated yet (post_migrate runs once per app):
        # wait for the call that comes after the last one.
        return
    for name, perms in ROLE_PERMISSIONS.items():
        group = Group.objects.using(using).filter(name=name).first()
        if group is not None:
            group.permissions.set([found[p] for p in perms])


def role_of(user: Any) -> str | None:
    """The user's role for navigation and the home page; superusers count as marketing ops."""
    if not user.is_authenticated:
        return None
    names = {g.name for g in user.groups.all()}
    for role in (SALES_MANAGER, MARKETING_OPS, SALES_REP):
        if role in names:
            return role
    if user.is_superuser:
        return MARKETING_OPS
    return None
