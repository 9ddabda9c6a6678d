"""A minimal host ERP with Accounts Sync installed from its wheel: the smallest real mount.

    pip install accounts_sync-*.whl
    flask --app app init-db                   # the ERP's own tables (a real ERP has them)
    flask --app app accounts-sync migrate     # the plugin's tables, from the installed package
    flask --app app issue-token accountant    # an API token for scripts (printed once)
    flask --app app run

The host owns what the plugin leans on: flask-login users (one with "can view costs", one
without), a login page, its layout (`base.html`, blocks title/head/content), its secret key,
and, for scripts, a flask-login request loader that accepts `Authorization: Bearer <token>`.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from pathlib import Path

import click
from flask import Flask, redirect, render_template, request, session, url_for
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import create_engine

from accounts_sync.web import AccountsSync


class User(UserMixin):
    def __init__(self, username: str, password: str, can_view_costs: bool) -> None:
        self.id = username
        self.password = password
        self.can_view_costs = can_view_costs

    def has_permission(self, name: str) -> bool:
        return name == "can_view_costs" and self.can_view_costs


USERS = {  # a real host reads its users table; these two show both sides of the permission
    "accountant": User("accountant", "accountant", can_view_costs=True),
    "cellarhand": User("cellarhand", "cellarhand", can_view_costs=False),
}


def create_app(test_config: dict | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    app.config.update(
        SECRET_KEY=os.environ.get("SECRET_KEY") or _instance_secret(app),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        DATABASE_URL=os.environ.get("DATABASE_URL")
        or f"sqlite:///{Path(app.instance_path) / 'host.sqlite3'}",
    )
    app.config.update(test_config or {})

    CSRFProtect(app)  # the host's own forms; the plugin checks its own whatever this says
    login = LoginManager(app)
    login.login_view = "login_page"
    login.user_loader(USERS.get)

    @login.request_loader
    def _from_token(req):  # scripts: Authorization: Bearer <token issued by `issue-token`>
        scheme, _, token = req.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        username = _tokens(app).get(_digest(token))
        return USERS.get(username) if username else None

    @app.route("/login", methods=["GET", "POST"])
    def login_page():
        error = None
        if request.method == "POST":
            user = USERS.get(request.form.get("username", ""))
            if user and secrets.compare_digest(user.password, request.form.get("password", "")):
                session.clear()  # a new session at login: nothing from before survives it
                login_user(user)
                return redirect(url_for("accounts_sync.console"))
            error = "Wrong username or password."
        return render_template("login.html", error=error)

    @app.post("/logout")
    def logout():
        logout_user()
        session.clear()
        return redirect(url_for("login_page"))

    @app.route("/")
    def home():
        return redirect(url_for("accounts_sync.console" if current_user.is_authenticated
                                else "login_page"))

    @app.cli.command("init-db")
    def init_db() -> None:
        """Create the ERP's tables (the schema the plugin's SQL adapter reads)."""
        from accounts_sync.adapters.erp_sql.host_schema import host_metadata

        engine = create_engine(app.config["DATABASE_URL"])
        host_metadata.create_all(engine)
        engine.dispose()
        click.echo("ERP tables are ready.")

    @app.cli.command("issue-token")
    @click.argument("username")
    def issue_token(username: str) -> None:
        """Issue an API token for USERNAME; only its hash is kept."""
        if username not in USERS:
            raise click.ClickException(f"There is no user {username!r}.")
        token = secrets.token_urlsafe(32)
        tokens = _tokens(app)
        tokens[_digest(token)] = username
        _tokens_file(app).write_text(json.dumps(tokens))
        click.echo(token)

    AccountsSync(app, database_url=app.config["DATABASE_URL"],
                 base_url=os.environ.get("BASE_URL", "http://127.0.0.1:5000"),
                 base_template="base.html")
    return app


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _tokens_file(app: Flask) -> Path:
    return Path(app.instance_path) / "api_tokens.json"


def _tokens(app: Flask) -> dict[str, str]:
    path = _tokens_file(app)
    return json.loads(path.read_text()) if path.exists() else {}


def _instance_secret(app: Flask) -> str:
    """A random secret made once and kept in the instance folder (never a constant)."""
    path = Path(app.instance_path) / "secret_key"
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(48))
    return path.read_text().strip()
