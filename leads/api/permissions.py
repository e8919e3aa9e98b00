from rest_framework.permissions import BasePermission

# Intake (pushing leads and events) is a model permission, not a role, so a push-only
# integration user can hold just these and see no lead at all. Marketing ops hold both
# (leads/roles.py).
INTAKE_PERMISSIONS = {
    "leads.add_lead": "This client may not push leads (it needs the permission leads.add_lead).",
    "leads.add_engagementevent": "This client may not push engagement events (it needs the "
    "permission leads.add_engagementevent).",
}


class MethodPermission(BasePermission):
    """The view's `required_permissions` = {"POST": "leads.add_lead"}: methods listed need
    that model permission; others need only an authenticated user."""

    def has_permission(self, request, view):
        needed = getattr(view, "required_permissions", {}).get(request.method)
        if needed is None:
            return True
        if request.user.has_perm(needed):
            return True
        self.message = INTAKE_PERMISSIONS.get(needed, "You may not do this.")
        return False
