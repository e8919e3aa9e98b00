"""The application's URLs plus the baseline the page benchmarks compare with."""

from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse
from django.urls import include, path


@login_not_required
def trivial(request):
    return HttpResponse("ok")


urlpatterns = [
    path("bench/trivial/", trivial),
    path("", include("config.urls")),
]
