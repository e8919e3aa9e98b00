from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle


class ClientRateThrottle(SimpleRateThrottle):
    """One budget per API client, counted in the Django cache (Redis), so every web
    process shares it. A token belongs to one service user, so per user is per token;
    anonymous calls (the schema) count per network address."""

    scope = "api"

    def get_rate(self):
        # read per request, not at import: an operator's (or a test's) setting applies
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def get_cache_key(self, request, view):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            ident = f"user-{user.pk}"
        else:
            # REMOTE_ADDR, not X-Forwarded-For: a client must not choose its own budget
            ident = f"addr-{request.META.get('REMOTE_ADDR', '')}"
        return f"throttle_{self.scope}_{ident}"
