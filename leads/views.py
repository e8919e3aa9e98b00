from django.shortcuts import render


def home(request):
    """The signed-in user's home; each role lands on its own page."""
    return render(request, "leads/home.html")
