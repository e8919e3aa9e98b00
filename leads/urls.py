from django.urls import path
from django.views.generic import RedirectView

from . import views

urlpatterns = [
    path("queue/", views.QueueView.as_view(), name="queue"),
    path("leads/<int:pk>/", views.lead_detail, name="lead-detail"),
    path("leads/<int:pk>/transitions/<slug:name>/", views.transition, name="lead-transition"),
    path("leads/<int:pk>/touches/", views.log_touch, name="lead-touch"),
    path("leads/<int:pk>/checklist/", views.save_checklist, name="lead-checklist"),
    path("marketing/", RedirectView.as_view(pattern_name="marketing-leads"), name="marketing"),
    path("marketing/leads/", views.MarketingLeadsView.as_view(), name="marketing-leads"),
    path("marketing/leads.csv", views.marketing_leads_csv, name="marketing-leads-csv"),
    path("marketing/rejected/", views.RejectedQueueView.as_view(), name="marketing-rejected"),
    path("marketing/rejected/bulk/", views.rejected_bulk, name="marketing-rejected-bulk"),
    path("marketing/nurture/", views.NurtureListView.as_view(), name="marketing-nurture"),
]
