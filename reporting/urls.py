from django.urls import path

from . import views
from .sections import REPORTS

urlpatterns = [path("", views.index, name="reports")]
for slug in REPORTS:
    urlpatterns += [
        path(f"{slug}/", views.report, {"slug": slug}, name=f"reports-{slug}"),
        path(
            f"{slug}.csv", views.report, {"slug": slug, "as_csv": True}, name=f"reports-{slug}-csv"
        ),
    ]
