"""A minimal host ERP for web tests: flask-login users with and without 'can view costs', and
API tokens for scripts (`Authorization: Bearer token-<username>`, flask-login's request loader)."""

from __future__ import annotations

from flask import Flask, render_template_string
from flask_login import LoginManager, UserMixin, login_user
from flask_wtf.csrf import CSRFProtect

from accounts_sync.web import AccountsSync

BASE = """<!doctype html><title>{% block title %}{% endblock %}</title>
{% block head %}{% endblock %}<main>{% block content %}{% endblock %}</main>"""


class User(UserMixin):
    def __init__(self, username: str, can_view_costs: bool) -> None:
        self.id = username
        self.can_view_costs = can_view_costs

    def has_permission(self, name: str) -> bool:
        return name == "can_view_costs" and self.can_view_costs


USERS = {"accountant": User("accountant", True), "cellarhand": User("cellarhand", False)}
TOKENS = {f"token-{name}": user for name, user in USERS.items()}
SECRET_KEY = "web-host-test-secret-key-0123456789abcdef"  # noqa: S105


def bearer(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer token-{name}"}


def make_host_app(db_url: str, host_config: dict | None = None, csrf_protect: str | None = None,
                  **settings) -> Flask:
    """`csrf_protect`: None, or install the host's CSRFProtect "before" or "after" the plugin."""
    app = Flask(__name__)
    app.config.update(SECRET_KEY=SECRET_KEY, TESTING=True)
    app.config.update(host_config or {})
    if csrf_protect == "before":
        CSRFProtect(app)
    from jinja2 import ChoiceLoader, DictLoader

    app.jinja_loader = ChoiceLoader([DictLoader({"erp/base.html": BASE}), app.jinja_loader])
    login = LoginManager(app)
    login.login_view = "login_page"
    login.user_loader(USERS.get)

    @login.request_loader
    def _token(request):
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme == "Bearer":
            return TOKENS.get(token)
        return TOKENS.get(request.args.get("api_token", ""))  # a bad idea, refused for POSTs

    @app.route("/login")
    def login_page():
        return render_template_string("login page")

    @app.route("/test-login/<name>")
    def test_login(name: str):
        login_user(USERS[name])
        return "ok"

    # No scheduler thread in the many test apps unless a test asks for one (its tick would
    # outlive the test's database); the scheduling tests set `scheduler` themselves.
    settings.setdefault("scheduler", "off")
    AccountsSync(app, database_url=db_url, base_url="http://erp.test", **settings)
    if csrf_protect == "after":
        CSRFProtect(app)
    return app


def logged_in(app: Flask, name: str):
    client = app.test_client()
    client.get(f"/test-login/{name}")
    return client
