"""`flask accounts-sync ...`: preview, sync, post-journals, status, migrate, worker, recover,
run-due, schedule list.

Bad input and refusals exit non-zero with one plain sentence; never a traceback.
"""

from __future__ import annotations

import getpass
import json
import logging
import os
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any

import click
from flask.cli import AppGroup

from ..adapters.jobs.rq_worker import build_worker
from ..application.decide_correction import DecisionRequest
from ..application.plan_corrections import CorrectionsRequest
from ..application.post_journals import PostJournalsRequest
from ..application.preview_unsynced import PreviewRequest
from ..application.recover_runs import RecoverRequest, RecoverResult
from ..application.sync_documents import SyncDocumentsRequest
from ..application.xero_changes import LookRequest
from ..domain.corrections import Choice
from ..domain.documents import TRADE_KINDS, Kind
from ..domain.errors import AccountsSyncError
from ..domain.money import format_money
from ..domain.sync import JournalMode, RunState, parse_closing_date
from .corrections import corrections_json
from .presenters import preview_json, status_json
from .reconciliation import reconciliation_csv_text, reconciliation_json, run_reconciliation
from .schedule_form import schedules_json
from .services import container, state
from .valuation import valuation_csv, valuation_json, valuation_request

cli = AppGroup("accounts-sync", help="Preview and push ERP documents and journals to Xero.")

SYNC_KINDS = (*TRADE_KINDS, Kind.CORRECTIONS)
KIND_NAMES = [k.value for k in SYNC_KINDS] + [k.value.replace("_", "-") for k in SYNC_KINDS]


def plain_errors(command: Callable) -> Callable:
    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except AccountsSyncError as error:
            raise click.ClickException(error.message) from None

    return wrapper


def _closing(raw: str | None):
    return parse_closing_date(raw or "", container().clock().today())


def _user(user: str | None) -> str:
    return user or f"cli:{getpass.getuser()}"


closing_option = click.option("--closing-date", "closing_date", metavar="YYYY-MM-DD",
                              help="Sync everything dated up to this day (default: today).")
user_option = click.option("--user", help="Who the run is recorded as (default: cli:<login>).")


@cli.command("preview")
@closing_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@plain_errors
def preview_command(closing_date: str | None, as_json: bool) -> None:
    """What a sync up to the closing date would send."""
    result = container().preview_unsynced().execute(PreviewRequest(_closing(closing_date)))
    body = preview_json(result)
    if as_json:
        click.echo(json.dumps(body, indent=2))
        return
    click.echo(f"Unsynced up to {body['closing_date']} ({body['currency']})")
    rows = [(k.label, body[k.value]["count"], body[k.value]["total"]) for k in TRADE_KINDS]
    rows.append(("Journals", body["journals"]["count"], body["journals"]["total"]))
    click.echo(f"{'Group':<20}{'Count':>10}{'Total':>16}")
    for label, count, total in rows:
        click.echo(f"{label:<20}{count:>10,}{total:>16}")
    corrections = body["corrections"]
    if corrections["count"]:
        click.echo(f"{'Corrections':<20}{corrections['count']:>10,}{corrections['net_change']:>16}")
    for problem in body["problems"]:
        click.echo(f"! {problem['message']}")
    for warning in body["warnings"]:
        click.echo(f"- {warning['message']}")


def _report(run) -> None:
    click.echo(f"Run {run.id} {run.state.value}: {run.message}")
    for failure in run.failures:
        by = "refused by Accounts Sync" if failure.by == "accounts_sync" else "refused by Xero"
        click.echo(f"  {failure.number} ({by}): {failure.reason}")
    if run.state is not RunState.SUCCEEDED:
        sys.exit(1)


@cli.command("sync")
@click.argument("kind", type=click.Choice(KIND_NAMES), metavar="KIND")
@closing_option
@user_option
@plain_errors
def sync_command(kind: str, closing_date: str | None, user: str | None) -> None:
    """Send every unsynced document of KIND (sales_orders, purchase_orders, refunds), or the
    corrections of what was already sent (corrections)."""
    run = container().sync_documents().execute(
        SyncDocumentsRequest(Kind.parse(kind), _closing(closing_date), _user(user)))
    _report(run)


@cli.command("corrections")
@closing_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a list.")
@plain_errors
def corrections_command(closing_date: str | None, as_json: bool) -> None:
    """What must change in Xero for what was already sent: edits, cancellations, late costs."""
    services = container()
    plan = services.plan_corrections().execute(CorrectionsRequest(_closing(closing_date)))
    if as_json:
        gateway = services.gateway()
        click.echo(json.dumps(corrections_json(
            plan, lambda c: gateway.web_url(c.kind, c.xero_id) if c.xero_id else ""), indent=2))
        return
    if not plan.corrections:
        click.echo(f"Nothing to correct up to {plan.closing_date}: Xero holds what the ERP says.")
        return
    click.echo(f"{plan.count:,} corrections up to {plan.closing_date}, net change "
               f"{format_money(plan.net_change)}; {len(plan.to_decide)} need a decision, "
               f"{len(plan.held)} held.")
    for c in plan.corrections:
        click.echo(f"{c.kind.value:<16}{c.number:<16}{format_money(c.old_total):>14} → "
                   f"{format_money(c.new_total):<14}{c.action.label}")
        click.echo(f"{'':<16}{c.reason}")
        if c.choices:
            click.echo(f"{'':<16}decide: flask accounts-sync decide {c.kind.value} {c.erp_id} "
                       f"{'|'.join(choice.value for choice in c.choices)}")


@cli.command("decide")
@click.argument("kind", type=click.Choice([k.value for k in (*TRADE_KINDS, Kind.JOURNALS)]),
                metavar="KIND")
@click.argument("erp_id")
@click.argument("choice", type=click.Choice([c.value for c in Choice]), metavar="CHOICE")
@closing_option
@user_option
@plain_errors
def decide_command(kind: str, erp_id: str, choice: str, closing_date: str | None,
                   user: str | None) -> None:
    """Take a decision only a person can take on a correction (adjust, overwrite or accept)."""
    decided = container().decide_correction().execute(DecisionRequest(
        Kind.parse(kind), erp_id, Choice.parse(choice), _closing(closing_date), _user(user)))
    click.echo(f"{decided.number}: {decided.action.label}. {decided.reason}")


@cli.command("look-at-xero")
@plain_errors
def look_at_xero_command() -> None:
    """Read what changed in Xero since the last look (nothing is sent)."""
    result = container().look_at_xero().execute(LookRequest(force=True))
    if not result.looked:
        raise click.ClickException(result.reason or "Xero could not be asked.")
    click.echo(f"Read {result.seen:,} changed objects: {result.changed:,} sent by Accounts Sync "
               f"and changed in Xero since, {result.made_elsewhere:,} made in Xero by someone else.")


@cli.command("post-journals")
@click.option("--mode", type=click.Choice(["draft", "posted"], case_sensitive=False),
              default="draft", show_default=True)
@closing_option
@user_option
@plain_errors
def post_journals_command(mode: str, closing_date: str | None, user: str | None) -> None:
    """Send the production-cost journals as DRAFT or POSTED manual journals."""
    run = container().post_journals().execute(
        PostJournalsRequest(_closing(closing_date), JournalMode.parse(mode), _user(user)))
    _report(run)


@cli.command("status")
@click.option("--json", "as_json", is_flag=True)
@plain_errors
def status_command(as_json: bool) -> None:
    """Connection, last synced dates and running syncs."""
    body = status_json(container().get_status().execute())
    if as_json:
        click.echo(json.dumps(body, indent=2))
        return
    connection = body["connection"]
    if connection is None:
        click.echo("Xero: not connected")
    else:
        extra = " (needs re-authorisation)" if connection["needs_reauthorisation"] else ""
        click.echo(f"Xero: {connection['organisation']}{extra}")
    for kind, mark in body["last_synced_up_to"].items():
        active = body["active_runs"].get(kind)
        running = f"  running {active['done']}/{active['total']}" if active else ""
        click.echo(f"{kind:<16} synced up to {mark or 'never'}{running}")


@cli.command("reconcile")
@closing_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV (one row per account and part).")
@plain_errors
def reconcile_command(closing_date: str | None, as_json: bool, as_csv: bool) -> None:
    """Xero against the ERP at the closing date, account by account. Exits with 1 when a
    difference is unexplained."""
    if as_json and as_csv:
        raise click.UsageError("Choose --json or --csv, not both.")
    result = run_reconciliation(closing_date)
    if as_csv:
        click.echo(reconciliation_csv_text(result), nl=False)
    elif as_json:
        click.echo(json.dumps(reconciliation_json(result), indent=2))
    else:
        click.echo(f"Reconciliation at {result.closing_date.isoformat()} (revenue and expenses "
                   f"from {result.period_start.isoformat()})")
        click.echo(f"{'Account':<36}{'ERP':>15}{'Sent':>15}{'Xero':>15}{'Unexplained':>14}")
        for a in result.accounts:
            f = a.figures
            click.echo(f"{(a.code + ' ' + a.name)[:35]:<36}{format_money(f.erp):>15}"
                       f"{format_money(f.sent):>15}{format_money(f.xero):>15}"
                       f"{format_money(f.unexplained):>14}")
            for cause, amount in f.causes:
                click.echo(f"    {cause.value}: {format_money(amount)}")
        for note in result.notes:
            click.echo(f"- {note}")
        if result.reconciled:
            click.echo("Reconciled: every difference has a named cause.")
        else:
            click.echo(f"{len(result.unexplained)} account(s) with an unexplained difference: "
                       + ", ".join(a.code for a in result.unexplained), err=True)
    if not result.reconciled:
        raise SystemExit(1)


@cli.command("inventory-valuation")
@closing_option
@click.option("--from", "period_start", metavar="YYYY-MM-DD",
              help="Cost of goods sold from this day (default: the start of the financial year).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV (one row per batch, product, account).")
@plain_errors
def inventory_valuation_command(closing_date: str | None, period_start: str | None, as_json: bool,
                                as_csv: bool) -> None:
    """The stock at cost at the closing date, by batch, product and Xero account."""
    if as_json and as_csv:
        raise click.UsageError("Choose --json or --csv, not both.")
    result = container().value_inventory().execute(
        valuation_request(closing_date, period_start, container().clock().today()))
    if as_csv:
        click.echo(valuation_csv(result), nl=False)
        return
    body = valuation_json(result)
    if as_json:
        click.echo(json.dumps(body, indent=2))
        return
    period = body["period"]
    click.echo(f"Inventory at cost on {body['closing_date']} ({body['currency']}); cost of goods "
               f"sold {period['start']} to {period['end']} ({period['label']})")
    click.echo(f"{'Account':<10}{'Holds':<28}{'Amount':>18}")
    for account in body["account_totals"]:
        click.echo(f"{account['account_code']:<10}{account['label']:<28}{account['amount']:>18}")
    bulk, cased = body["bulk_wine"], body["finished_goods"]
    click.echo(f"Bulk wine: {bulk['litres']} L in {sum(len(v['batches']) for v in bulk['vintages'])} "
               f"batches, {bulk['cost']}")
    click.echo(f"Cased wine: {cased['cases']} cases of {len(cased['products'])} products, {cased['cost']}")
    click.echo(f"Inventory at cost: {body['inventory_total']}")
    for problem in body["problems"]:
        click.echo(f"- {problem['message']}")


@cli.command("migrate")
@plain_errors
def migrate_command() -> None:
    """Create or upgrade the plugin's tables (never the host's)."""
    container().migrate_database()
    click.echo("Accounts Sync tables are up to date.")


@cli.command("run-due")
@click.option("--verbose", "-v", is_flag=True, help="Also say when nothing was due.")
@plain_errors
def run_due_command(verbose: bool) -> None:
    """Start the scheduled syncs that are due (for cron on hosts without workers: safe to run
    as often as you like, from several machines; each due sync starts once)."""
    services = container()
    result = services.run_due_schedules().execute()
    zone = services.zone()
    for fired in result.fired:
        due = fired.due_at.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")
        click.echo(f"{fired.name} (due {due}): {fired.outcome}")
    started = [f.run_id for f in result.fired if f.run_id and f.outcome.startswith("Started")]
    if started and services.config.job_queue() == "in_process":
        # No separate workers: the runs were handed to this process's own runner.
        for run_id in started:
            services.job_queue().wait(run_id)
            done = services.get_run().execute(run_id)
            click.echo(f"Run {done.id} {done.state.value}: {done.message}")
    if not result.fired and verbose:
        nxt = result.next_due.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z") if result.next_due \
            else "nothing is scheduled"
        click.echo(f"Nothing was due. Next: {nxt}.")


@cli.group("schedule")
def schedule_group() -> None:
    """Scheduled syncs (set them in Settings, Schedules and alerts)."""


@schedule_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@plain_errors
def schedule_list_command(as_json: bool) -> None:
    """Each kind's schedule, its next and last firing, and where alerts go."""
    services = container()
    plan = services.get_schedules().execute()
    if as_json:
        click.echo(json.dumps(schedules_json(plan), indent=2))
        return
    zone = services.zone()

    def when(moment) -> str:
        return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z") if moment else "-"

    click.echo(f"Times in {plan.zone_name}.")
    click.echo(f"{'Kind':<17}{'Schedule':<34}{'Closing date':<19}{'Next':<23}Last")
    for entry in plan.kinds:
        s = entry.schedule
        described = s.describe() + (f" ({s.journal_mode.value.lower()})"
                                    if s.name == "journals" and s.is_on else "")
        last = f"{when(entry.last_fired_at)}: {entry.last_outcome}" if entry.last_fired_at else "-"
        click.echo(f"{s.name:<17}{described:<34}{s.closing_rule.label if s.is_on else '-':<19}"
                   f"{when(entry.next_due_at) if s.is_on else '-':<23}{last}")
    alerts = plan.alerts
    click.echo(f"Alerts to: {', '.join(alerts.addresses) or 'nobody (console only)'}; about "
               f"{'every sync' if alerts.every_run else 'scheduled syncs only'}; daily digest "
               f"{alerts.digest_at.strftime('%H:%M') if alerts.digest_at else 'off'}"
               + ("" if services.notifier().configured else
                  " (email is not set up: ACCOUNTS_SYNC_SMTP_HOST)") + ".")
    keep = plan.keep_alive
    if keep.last_fired_at:
        click.echo(f"Xero keep-alive, last checked {when(keep.last_fired_at)}: {keep.last_outcome}")


@cli.command("worker")
@click.option("--burst", is_flag=True, help="Quit when the queue is empty (scripts, tests).")
@click.option("--simple", is_flag=True,
              help="Carry out runs in this process instead of a forked child per run.")
@click.option("--name", default=None, help="The worker's name in RQ (default: generated).")
@plain_errors
def worker_command(burst: bool, simple: bool, name: str | None) -> None:
    """Carry out queued sync runs (RQ on ACCOUNTS_SYNC_REDIS_URL); start as many as you like."""
    settings = state().settings
    services = container()  # kept: the runner is called where no app context is pushed
    if not settings.get("redis_url") or services.config.job_queue() != "rq":
        raise click.ClickException(
            "Workers take runs from Redis: set ACCOUNTS_SYNC_REDIS_URL (and leave "
            "ACCOUNTS_SYNC_JOB_QUEUE unset or 'rq') in the app's configuration."
        )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    engine = services.engine()
    # A forked child must not share the parent's database connections.
    os.register_at_fork(after_in_child=lambda: engine.dispose(close=False))
    _report_recovered(services.recover_runs().execute())
    queue_name = services.config.rq_queue()
    scheduled = services.config.scheduler() == "rq"
    worker = build_worker(
        settings["redis_url"],
        queue_name,
        mode="simple" if simple else "fork",
        runner=lambda run_id: services.run_job().execute(run_id),
        name=name,
        ticker=lambda: services.run_due_schedules().execute(),
        # Plans the scheduled syncs again every maintenance pass (Redis may have lost them).
        on_maintenance=(lambda: services.scheduler().start()) if scheduled else None,
    )
    click.echo(f"Accounts Sync worker {worker.name} on queue {queue_name}")
    if scheduled:
        # What fell due while no worker ran fires now, and the next firing is planned in Redis.
        try:
            for fired in services.run_due_schedules().execute().fired:
                click.echo(f"{fired.name}: {fired.outcome}")
        except AccountsSyncError as error:
            click.echo(f"Scheduled syncs not started: {error.message}", err=True)
    # RQ's scheduler runs beside the workers (one per queue holds its lock) and moves each
    # planned call onto the queue when it is due.
    worker.work(burst=burst, logging_level="INFO", with_scheduler=scheduled)


@cli.command("recover")
@click.option("--stale-after", type=click.FloatRange(min=0, min_open=True), default=None,
              metavar="SECONDS",
              help="Count runs silent this long as stuck (default: ACCOUNTS_SYNC_RUN_STALE_AFTER).")
@plain_errors
def recover_command(stale_after: float | None) -> None:
    """Stop runs whose worker died (their documents are checked in Xero before any resend) and
    hand runs that never started to the workers again."""
    services = container()
    result = services.recover_runs().execute(RecoverRequest(stale_after=stale_after))
    _report_recovered(result)
    if not result.recovered:
        click.echo("No stuck sync runs.")
    if result.requeued and services.config.job_queue() == "in_process":
        # No separate workers: the runs were handed to this process's own runner.
        click.echo("No workers are configured (ACCOUNTS_SYNC_REDIS_URL): running them here.")
        for run in result.requeued:
            services.job_queue().wait(run.id)
            done = services.get_run().execute(run.id)
            click.echo(f"Run {done.id} {done.state.value}: {done.message}")


def _report_recovered(result: RecoverResult) -> None:
    for run in result.aborted:
        click.echo(f"Run {run.id} ({run.kind.label.lower()}) stopped: {run.message}")
    for run in result.requeued:
        click.echo(f"Run {run.id} ({run.kind.label.lower()}) had not started; handed to the workers again.")
