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

ROUTING_CONFIG_MODELS = (
    "team",
    "teammembership",
    "outofoffice",
    "routingrule",
    "businesscalendar",
    "holiday",
    "slapolicy",
)
ROUTING_HISTORY_MODELS = ("slaclock", "assignment")

# "app_label.codename" per role. Object-level rules (a rep sees own leads only) are
# enforced by services and selectors; these are the coarse model permissions the admin
# and has_perm() use.
ROLE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    MARKETING_OPS: (
        "auth.view_user",
        # reporting: marketing ops keep the report targets (the SLA between the teams)
        "reporting.view_reporttargets",
        "reporting.change_reporttargets",
        *(
            f"qualification.{action}_{model}"
            for model in (
                "productline",
                "reason",
                "criteriaset",
                "checklistitem",
                "scoringrule",
                "fastlanerule",
            )
            for action in ("add", "change", "view")
        ),
        # rules and checklist items of a draft can be removed (published ones never)
        "qualification.delete_scoringrule",
        "qualification.delete_checklistitem",
        "qualification.delete_criteriaset",
        "qualification.view_checklistanswer",
        "leads.add_account",
        "leads.change_account",
        "leads.view_account",
        "leads.add_lead",
        "leads.change_lead",
        "leads.view_lead",
        "leads.view_stagechange",
        "leads.view_touch",
        "leads.view_engagementevent",
        # the API's intake: push leads (leads.add_lead, above) and engagement events
        "leads.add_engagementevent",
        # routing: marketing ops own the rules, teams, calendars and SLA policies
        *(
            f"routing.{action}_{model}"
            for model in ROUTING_CONFIG_MODELS
            for action in ("add", "change", "view")
        ),
        "routing.delete_teammembership",
        "routing.delete_holiday",
        "routing.delete_outofoffice",
        *(f"routing.view_{model}" for model in ROUTING_HISTORY_MODELS),
        "routing.view_notification",
        # outbound webhooks: subscriptions are theirs; deliveries are a read-only log
        *(
            f"routing.{action}_webhooksubscription"
            for action in ("add", "change", "view", "delete")
        ),
        "routing.view_webhookdelivery",
    ),
    SALES_REP: (
        "leads.view_lead",
        "leads.view_account",
        "leads.add_touch",
        "leads.view_touch",
        "qualification.add_checklistanswer",
        "qualification.view_checklistanswer",
        *(f"routing.view_{model}" for model in ROUTING_HISTORY_MODELS),
    ),
    SALES_MANAGER: (
        "auth.view_user",
        "reporting.view_reporttargets",
        "leads.view_lead",
        "leads.change_lead",
        "leads.view_account",
        "leads.view_stagechange",
        "leads.add_touch",
        "leads.view_touch",
        "leads.view_engagementevent",
        "qualification.add_checklistanswer",
        "qualification.view_checklistanswer",
        "qualification.view_reason",
        "qualification.view_criteriaset",
        # routing: managers see the set-up and record their reps' absences
        *(f"routing.view_{model}" for model in ROUTING_CONFIG_MODELS),
        *(f"routing.view_{model}" for model in ROUTING_HISTORY_MODELS),
        "routing.add_outofoffice",
        "routing.change_outofoffice",
        "routing.delete_outofoffice",
    ),
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
    names = roles_of(user)
    for role in (SALES_MANAGER, MARKETING_OPS, SALES_REP):
        if role in names:
            return role
    return None


def roles_of(user: Any) -> frozenset[str]:
    """The user's role names, read once per user object (guards ask many times per page)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return frozenset()
    cached = getattr(user, "_handoff_roles", None)
    if cached is None:
        cached = frozenset(g.name for g in user.groups.all())
        if user.is_superuser:
            cached |= {MARKETING_OPS, SALES_MANAGER}
        user._handoff_roles = cached
    return cached
