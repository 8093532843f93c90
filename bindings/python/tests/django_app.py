"""A small Django project in one module, for test_wsgi.py (served by
`python -m nhttps.wsgi django_app:application`)."""

import django
from django.conf import settings

settings.configure(
    DEBUG=False,
    SECRET_KEY="nhttps-tests-only",
    ALLOWED_HOSTS=["127.0.0.1", "localhost"],
    ROOT_URLCONF=__name__,
    MIDDLEWARE=["django.middleware.csrf.CsrfViewMiddleware"],
    CSRF_COOKIE_SECURE=True,
    INSTALLED_APPS=[],
)
django.setup()

from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.http import HttpResponse, JsonResponse  # noqa: E402
from django.middleware.csrf import get_token  # noqa: E402
from django.urls import path  # noqa: E402


def form(request):
    """A CSRF token, in the body and in the csrftoken cookie."""
    return HttpResponse(get_token(request))


def submit(request):
    """A POST the CSRF middleware guards."""
    return JsonResponse({"secure": request.is_secure(), "name": request.POST.get("name")})


def whoami(request):
    return HttpResponse(request.META.get("SSL_CLIENT_S_DN", "nobody"))


urlpatterns = [path("form", form), path("submit", submit), path("whoami", whoami)]
application = get_wsgi_application()
