"""A minimal host ERP for web tests: flask-login users with and without 'can view costs'."""

from __future__ import annotations

from flask import Flask, render_template_string
from flask_login import LoginManager, UserMixin, login_user

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


def make_host_app(db_url: str, **settings) -> Flask:
    app = Flask(__name__)
    app.config.update(SECRET_KEY="test", TESTING=True)
    from jinja2 import ChoiceLoader, DictLoader

    app.jinja_loader = ChoiceLoader([DictLoader({"erp/base.html": BASE}), app.jinja_loader])
    login = LoginManager(app)
    login.login_view = "login_page"
    login.user_loader(USERS.get)

    @app.route("/login")
    def login_page():
        return render_template_string("login page")

    @app.route("/test-login/<name>")
    def test_login(name: str):
        login_user(USERS[name])
        return "ok"

    AccountsSync(app, database_url=db_url, base_url="http://erp.test", **settings)
    return app


def logged_in(app: Flask, name: str):
    client = app.test_client()
    client.get(f"/test-login/{name}")
    return client
