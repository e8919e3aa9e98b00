from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from leads import views as lead_views

from . import health

urlpatterns = [
    path("", lead_views.home, name="home"),
    path("healthz", health.healthz, name="healthz"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("", include("leads.urls")),
    path("", include("routing.urls")),
    path("reports/", include("reporting.urls")),
    # the integration API (/api/v1/, /api/schema/, /api/docs/) and the public inquiry form
    path("api/", include("leads.api.urls")),
    path("", include("leads.inquiry")),
]
