"""/api/: the versioned endpoints, the OpenAPI schema and its Swagger UI.

The schema and the docs need no login: they describe the contract and hold no data, and
integrators (and schemathesis) read them before they have a token.
"""

from django.contrib.auth.decorators import login_not_required
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from . import reports, views

v1 = [
    path("leads/", views.LeadsView.as_view(), name="api-leads"),
    path("leads/<int:pk>/", views.LeadDetailView.as_view(), name="api-lead"),
    path(
        "leads/<int:pk>/transitions/<str:name>/",
        views.TransitionView.as_view(),
        name="api-lead-transition",
    ),
    path("leads/<int:pk>/touches/", views.TouchView.as_view(), name="api-lead-touches"),
    path(
        "leads/<int:pk>/checklist/<int:item>/",
        views.ChecklistAnswerView.as_view(),
        name="api-lead-checklist",
    ),
    path("events/", views.EventsView.as_view(), name="api-events"),
    path("reports/<str:name>/", reports.ReportView.as_view(), name="api-report"),
]

urlpatterns = [
    path("v1/", include(v1)),
    re_path(r"^v1/", views.NotFoundView.as_view()),
    path("schema/", login_not_required(SpectacularAPIView.as_view()), name="api-schema"),
    path(
        "docs/",
        login_not_required(SpectacularSwaggerView.as_view(url_name="api-schema")),
        name="api-docs",
    ),
]
