from .roles import role_of


def navigation(request):
    """Role for the navigation, and the unread-notification count for the header.

    Cached on the request: table cells rendered from templates (django-tables2's
    TemplateColumn) run context processors again for every cell."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    cached = getattr(request, "_handoff_navigation", None)
    if cached is None:
        from routing.selectors import unread_count

        cached = {"user_role": role_of(user), "unread_count": unread_count(user)}
        request._handoff_navigation = cached
    return cached
