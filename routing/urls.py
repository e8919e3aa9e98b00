from django.urls import path

from . import views

urlpatterns = [
    path("team/", views.TeamView.as_view(), name="team"),
    path("team/reassign/", views.reassign, name="team-reassign"),
    path("notifications/", views.notifications, name="notifications"),
    path("notifications/read/", views.mark_all_read, name="notifications-read"),
]
