"""Smoke checks of the minimal host with Accounts Sync installed from the wheel.

    python smoke.py        # from this folder, in the virtualenv the wheel went into

Exits non-zero with the first failure. Run by tests/integration/test_wheel_install.py.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def flask(*args: str, env: dict[str, str]) -> str:
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "app", *args], cwd=HERE,
                          env=env, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        sys.exit(f"flask {' '.join(args)} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return done.stdout


def check(condition: bool, what: str) -> None:
    if not condition:
        sys.exit(f"FAILED: {what}")
    print(f"ok  {what}")


def main() -> None:
    import accounts_sync

    where = Path(accounts_sync.__file__).resolve()
    check("site-packages" in where.parts, f"accounts_sync comes from the installed wheel ({where})")

    instance = Path(tempfile.mkdtemp(prefix="minimal-host-"))
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{instance / 'host.sqlite3'}",
           "SECRET_KEY": "smoke-" + "s3cr3t-" * 6}
    os.environ.update(env)
    check("ERP tables are ready" in flask("init-db", env=env), "flask init-db")
    check("up to date" in flask("accounts-sync", "migrate", env=env),
          "flask accounts-sync migrate (migrations inside the package)")
    check("synced up to" in flask("accounts-sync", "status", env=env), "flask accounts-sync status")
    preview = flask("accounts-sync", "preview", "--json", env=env)
    check('"closing_date"' in preview, "flask accounts-sync preview --json")
    token = flask("issue-token", "accountant", env=env).strip()

    sys.path.insert(0, str(HERE))
    from app import create_app

    app = create_app()
    anonymous = app.test_client()
    response = anonymous.get("/accounts/sync/")
    check(response.status_code == 302 and "/login" in response.location,
          "anonymous users are sent to the host's login")

    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = client.post("/login", data={"username": "accountant", "password": "accountant",
                                           "csrf_token": csrf})
    check(response.status_code == 302, "log in as accountant")
    for path in ("/accounts/sync/", "/accounts/sync/preview", "/accounts/sync/history",
                 "/accounts/sync/settings", "/accounts/sync/documents/sales_orders"):
        response = client.get(path)
        body = response.get_data(as_text=True)
        check(response.status_code == 200 and "Minimal host ERP" in body
              and "Accounts Sync" in body, f"GET {path} renders inside the host's layout")
    css = client.get("/accounts/sync/static/accounts_sync.css")
    check(css.status_code == 200 and b"{" in css.data, "the plugin's static files are served")
    check(client.get("/accounts/sync/api/status").status_code == 200, "the API with the session")

    cellarhand = app.test_client()
    page = cellarhand.get("/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    cellarhand.post("/login", data={"username": "cellarhand", "password": "cellarhand",
                                    "csrf_token": csrf})
    check(cellarhand.get("/accounts/sync/").status_code == 403, "no 'can view costs': 403")

    script = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    response = script.get("/accounts/sync/api/status", headers=headers)
    check(response.status_code == 200 and "last_synced_up_to" in response.json,
          "a script reads the API with a host-issued token")
    spec = script.get("/accounts/sync/api/openapi.json", headers=headers)
    check(spec.status_code == 200 and spec.json["openapi"] == "3.1.0",
          "the OpenAPI 3.1 description is served")
    started = script.post("/accounts/sync/api/sync", json={"kind": "sales_orders"}, headers=headers)
    check(started.status_code == 202 and started.json["run"]["requested_by"] == "accountant",
          "a script starts a sync with its token and no CSRF token")
    docs = client.get("/accounts/sync/api/docs")
    check(docs.status_code == 200 and client.get(
        "/accounts/sync/api/docs/assets/swagger-ui-bundle.js").status_code == 200,
        "the API docs page and its Swagger UI files (no CDN)")
    check(script.get("/accounts/sync/api/status",
                     headers={"Authorization": "Bearer wrong"}).status_code == 401,
          "a wrong token gets 401")
    print("minimal host: all smoke checks passed")


if __name__ == "__main__":
    main()
