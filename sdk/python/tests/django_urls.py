"""The Django application of test_middleware.py: its URLs, views, and the
client and actor the settings name by dotted path."""

from django.http import HttpResponse
from django.urls import path

audit_client = None


def actor(request):
    user = request.headers.get("x-user")
    return {"type": "user", "id": user} if user else None


def update(request, id):
    request.audit.set("invoice.updated", "invoice", id)
    return HttpResponse("updated")


def reports(request):
    return HttpResponse("report")


urlpatterns = [
    path("invoices/<str:id>", update),
    path("reports", reports),
    path("healthz", reports),
]
