"""The composition root: the ONLY place that chooses adapters, from configuration.

One flat DeclarativeContainer (nested-container overrides are unreliable upstream). Use cases
are Factories so every call gets fresh collaborators; engines, gateways and queues are
Singletons. Tests override a provider: `with container.gateway.override(fake): ...`.
"""

from __future__ import annotations

from datetime import timedelta

from dependency_injector import containers, providers

from .adapters.erp_sql.engine import make_engine, make_session_factory
from .adapters.erp_sql.links import ErpLinks
from .adapters.erp_sql.migrate import upgrade
from .adapters.erp_sql.sqlalchemy_uow import SqlUnitOfWork
from .adapters.jobs.in_process_queue import InProcessJobQueue
from .adapters.jobs.in_process_scheduler import InProcessScheduler, NoScheduler
from .adapters.jobs.rq_job_queue import RqJobQueue
from .adapters.jobs.rq_scheduler import RqScheduler
from .adapters.mail.smtp_notifier import NoNotifier, SmtpNotifier
from .adapters.offline_gateway import NoConnectionKeeper, OfflineGateway
from .adapters.redis_rate_limiter import RedisRateLimiter
from .adapters.system_clock import SystemClock, host_zone
from .adapters.xero import InProcessRateLimiter, XeroConnector, XeroSettings, create_xero
from .application.alerts import (
    CheckConnection,
    DeliverAlerts,
    DismissAlert,
    KeepConnectionAlive,
    ListAlerts,
    SendDigest,
    WatchRuns,
)
from .application.decide_correction import DecideCorrection
from .application.execute_run import ExecuteRun
from .application.journal_detail import GetJournalDetail
from .application.list_unsynced import ListUnsynced
from .application.plan_corrections import PlanCorrections
from .application.post_journals import PostJournals
from .application.preview_unsynced import PreviewUnsynced
from .application.reconcile import ExplainDifference, Reconcile
from .application.recover_runs import ClaimWithRecovery, RecoverRuns
from .application.run_due import Duties, RunDueSchedules
from .application.run_job import RunJob
from .application.schedules import GetSchedules, SaveSchedules
from .application.settings import GetSettings, SaveMapping
from .application.start_sync import StartSync
from .application.status import GetRun, GetRunDetail, GetStatus, ListRuns
from .application.sync_documents import SyncDocuments
from .application.value_inventory import ValueInventory
from .application.xero_changes import ListXeroChanges, LookAtXero

DEFAULTS = {
    "gateway": "offline",
    "secret_key": "",
    "job_queue": "in_process",
    "job_workers": 2,
    "default_currency": "AUD",
    "batch_size": 50,
    "chunk_size": 5000,
    # Scale-out: with `redis_url` set, runs go to RQ workers and the Xero limiter's budget
    # lives in Redis (unless `job_queue` / `rate_limiter` say otherwise).
    "redis_url": "",
    "rate_limiter": "in_process",
    "rate_limit_prefix": "accounts-sync:xero-limits",  # Redis keys of the shared budget
    "rq_queue": "accounts-sync",
    "job_timeout": 6 * 3600,
    # Seconds without a heartbeat before a run counts as stuck (its worker died).
    "run_stale_after": 120,
    "run_heartbeat_every": 0,  # 0: a sixth of run_stale_after
    # Scheduled syncs and alerts. `scheduler`: in_process (a thread of the web process), rq
    # (RQ's scheduler on the workers), off (cron calls `accounts-sync run-due`); default: rq
    # when the job queue is, else in_process.
    "timezone": "",  # the host's zone (ACCOUNTS_SYNC_TIMEZONE); else the server's own
    "scheduler": "",
    "schedule_min_interval": 5,  # minutes: the shortest "every N minutes"
    "schedule_poll": 60,  # seconds between the embedded scheduler's looks at the schedules
    "schedule_check_every": 300,  # seconds between the housekeeping calls (alerts, RQ)
    "console_url": "",  # set by the extension: links in alert emails
    "smtp_host": "",  # unset: alerts are shown on the console only
    "smtp_port": 587,
    "smtp_username": "",
    "smtp_password": "",
    "smtp_security": "starttls",  # starttls, ssl or none
    "smtp_from": "",
    "smtp_timeout": 10,
    "alert_budget_below": 500,  # Xero calls left in the day under which an alert goes out
    "keepalive_days": 7,  # a connection quiet this long gets its tokens refreshed
}


class Container(containers.DeclarativeContainer):
    __self__ = providers.Self()
    config = providers.Configuration()

    zone = providers.Singleton(host_zone, config.timezone)
    clock = providers.Singleton(SystemClock, zone)
    engine = providers.Singleton(make_engine, config.database_url)
    session_factory = providers.Singleton(make_session_factory, engine)
    links = providers.Singleton(ErpLinks, base_url=config.base_url)
    unit_of_work = providers.Factory(SqlUnitOfWork, session_factory=session_factory, links=links)
    migrate_database = providers.Callable(upgrade, engine)

    xero_settings = providers.Singleton(lambda cfg: xero_settings_from(cfg), config)
    rate_limiter = providers.Selector(
        config.rate_limiter,
        in_process=providers.Singleton(InProcessRateLimiter.from_settings, xero_settings),
        redis=providers.Singleton(
            RedisRateLimiter.from_settings, xero_settings, config.redis_url,
            prefix=config.rate_limit_prefix,
        ),
    )
    xero = providers.Singleton(
        create_xero, xero_settings, session_factory, config.secret_key, rate_limiter
    )
    xero_connector = providers.Callable(lambda pair: pair[0], xero)

    gateway = providers.Selector(
        config.gateway,
        offline=providers.Singleton(OfflineGateway),
        xero=providers.Callable(lambda pair: pair[1], xero),
    )

    execute_run = providers.Factory(
        ExecuteRun,
        uow=unit_of_work.provider,
        gateway=gateway,
        clock=clock,
        batch_size=config.batch_size.as_int(),
        chunk_size=config.chunk_size.as_int(),
    )

    # The queue's runner looks RunJob up when a job starts (RunJob needs the queue, through
    # RecoverRuns, so neither can be built first); `__self__` is this container instance.
    job_queue = providers.Selector(
        config.job_queue,
        in_process=providers.Singleton(
            InProcessJobQueue,
            run=providers.Callable(lambda c: lambda run_id: c.run_job().execute(run_id), __self__),
            workers=config.job_workers.as_int(),
        ),
        rq=providers.Singleton(
            RqJobQueue,
            redis_url=config.redis_url,
            queue_name=config.rq_queue,
            job_timeout=config.job_timeout.as_int(),
        ),
    )
    recover_runs = providers.Factory(
        RecoverRuns,
        uow=unit_of_work.provider,
        clock=clock,
        queue=job_queue,
        stale_after=config.run_stale_after.as_float(),
    )

    # Alerts (email through the Notifier, and the console).
    notifier = providers.Selector(
        config.notifier,
        smtp=providers.Singleton(
            SmtpNotifier, host=config.smtp_host, port=config.smtp_port.as_int(),
            username=config.smtp_username, password=config.smtp_password,
            security=config.smtp_security, sender=config.smtp_from,
            timeout=config.smtp_timeout.as_float()),
        none=providers.Singleton(NoNotifier),
    )
    deliver_alerts = providers.Factory(DeliverAlerts, uow=unit_of_work.provider, notifier=notifier,
                                       clock=clock, console_url=config.console_url)
    watch_runs = providers.Factory(WatchRuns, uow=unit_of_work.provider, alerts=deliver_alerts,
                                   clock=clock)
    list_alerts = providers.Factory(ListAlerts, uow=unit_of_work.provider)
    dismiss_alert = providers.Factory(DismissAlert, uow=unit_of_work.provider, clock=clock)

    run_job = providers.Factory(
        RunJob,
        uow=unit_of_work.provider,
        gateway=gateway,
        clock=clock,
        execute_run=execute_run.provider,
        recover=recover_runs,
        stale_after=config.run_stale_after.as_float(),
        heartbeat_every=config.run_heartbeat_every.as_float(),
        watch=providers.Callable(lambda watch: watch.run_ended, watch_runs),
    )

    plan_corrections = providers.Factory(
        PlanCorrections, uow=unit_of_work.provider, gateway=gateway, clock=clock)
    decide_correction = providers.Factory(
        DecideCorrection, uow=unit_of_work.provider, planner=plan_corrections)
    look_at_xero = providers.Factory(LookAtXero, uow=unit_of_work.provider, gateway=gateway,
                                     clock=clock)
    list_xero_changes = providers.Factory(ListXeroChanges, uow=unit_of_work.provider)
    preview_unsynced = providers.Factory(
        PreviewUnsynced,
        uow=unit_of_work.provider,
        gateway=gateway,
        clock=clock,
        default_currency=config.default_currency,
        plan_corrections=plan_corrections,
    )
    list_unsynced = providers.Factory(ListUnsynced, uow=unit_of_work.provider)
    journal_detail = providers.Factory(GetJournalDetail, uow=unit_of_work.provider, gateway=gateway)
    # A Sync that finds its kind held by a run whose worker died recovers it and claims again;
    # runs carried out in this process (CLI, API) keep a heartbeat like a worker's (RunJob).
    start_sync = providers.Factory(
        ClaimWithRecovery,
        use_case=providers.Factory(StartSync, uow=unit_of_work.provider, queue=job_queue, clock=clock),
        recover=recover_runs,
    )
    sync_documents = providers.Factory(
        ClaimWithRecovery,
        use_case=providers.Factory(
            SyncDocuments, uow=unit_of_work.provider, clock=clock, execute_run=run_job
        ),
        recover=recover_runs,
    )
    post_journals = providers.Factory(
        ClaimWithRecovery,
        use_case=providers.Factory(
            PostJournals, uow=unit_of_work.provider, clock=clock, execute_run=run_job
        ),
        recover=recover_runs,
    )
    get_status = providers.Factory(GetStatus, uow=unit_of_work.provider, gateway=gateway)
    get_run = providers.Factory(GetRun, uow=unit_of_work.provider)
    get_run_detail = providers.Factory(GetRunDetail, uow=unit_of_work.provider)
    list_runs = providers.Factory(ListRuns, uow=unit_of_work.provider)
    get_settings = providers.Factory(GetSettings, uow=unit_of_work.provider, gateway=gateway)
    save_mapping = providers.Factory(SaveMapping, uow=unit_of_work.provider, gateway=gateway)
    value_inventory = providers.Factory(
        ValueInventory, uow=unit_of_work.provider, default_currency=config.default_currency
    )
    reconcile = providers.Factory(Reconcile, uow=unit_of_work.provider, gateway=gateway)
    explain_difference = providers.Factory(ExplainDifference, uow=unit_of_work.provider,
                                           gateway=gateway, plan_corrections=plan_corrections)

    # Scheduled syncs: RunDueSchedules is called by the scheduler (a thread, or RQ's on the
    # workers) or by `accounts-sync run-due`; the schedule store fires each due moment once.
    keeper = providers.Selector(
        config.gateway,
        offline=providers.Singleton(NoConnectionKeeper),
        xero=providers.Callable(lambda pair: pair[0], xero),
    )
    check_connection = providers.Factory(
        CheckConnection, gateway=gateway, alerts=deliver_alerts, clock=clock, zone=zone,
        budget_below=config.alert_budget_below.as_int(),
        calls_per_day=providers.Callable(lambda s: s.calls_per_day, xero_settings))
    keep_connection_alive = providers.Factory(
        KeepConnectionAlive, gateway=gateway, keeper=keeper, alerts=deliver_alerts, clock=clock,
        refresh_after=providers.Callable(lambda days: timedelta(days=float(days)),
                                         config.keepalive_days))
    send_digest = providers.Factory(SendDigest, uow=unit_of_work.provider, gateway=gateway,
                                    alerts=deliver_alerts, clock=clock, zone=zone)
    scheduler = providers.Selector(
        config.scheduler,
        in_process=providers.Singleton(
            InProcessScheduler,
            tick=providers.Callable(lambda c: lambda: c.run_due_schedules().execute(), __self__),
            poll=config.schedule_poll.as_float()),
        rq=providers.Singleton(RqScheduler, redis_url=config.redis_url, queue_name=config.rq_queue),
        off=providers.Singleton(NoScheduler),
    )
    run_due_schedules = providers.Factory(
        RunDueSchedules,
        uow=unit_of_work.provider,
        clock=clock,
        zone=zone,
        start_sync=start_sync,
        scheduler=scheduler,
        alerts=deliver_alerts,
        duties=providers.Callable(
            lambda watch, check, alerts, digest, keep: Duties(
                every_tick=(watch.sweep, check.execute, alerts.resend),
                digest=digest.execute, keep_alive=keep.execute),
            watch_runs, check_connection, deliver_alerts, send_digest, keep_connection_alive),
        check_every=config.schedule_check_every.as_float(),
    )
    get_schedules = providers.Factory(GetSchedules, uow=unit_of_work.provider, zone=zone,
                                      min_interval=config.schedule_min_interval.as_int())
    save_schedules = providers.Factory(SaveSchedules, uow=unit_of_work.provider, clock=clock,
                                       zone=zone, scheduler=scheduler,
                                       min_interval=config.schedule_min_interval.as_int())


def xero_settings_from(settings: dict) -> XeroSettings:
    """`xero_*` settings (prefix-stripped, lower case) → the adapter's own settings."""
    return XeroSettings.from_config({f"ACCOUNTS_SYNC_{k.upper()}": v for k, v in settings.items()})


SECRET_MIN_LENGTH = 32
SECRET_MIN_DISTINCT = 8
SECRET_HINT = "python -c 'import secrets; print(secrets.token_urlsafe(32))'"  # noqa: S105 - a command


def weak_secret(secret: str | bytes) -> str | None:
    """Why a secret key is too weak to sign sessions or encrypt tokens, or None when it is not.

    The rule: at least 32 characters, at least 8 of them different (a random key from the
    hint below has about 256 bits)."""
    text = secret.decode(errors="replace") if isinstance(secret, bytes) else str(secret)
    if len(text) < SECRET_MIN_LENGTH or len(set(text)) < SECRET_MIN_DISTINCT:
        return (f"is too weak: use at least {SECRET_MIN_LENGTH} characters, at least "
                f"{SECRET_MIN_DISTINCT} of them different, e.g. from `{SECRET_HINT}`.")
    return None


def build_container(settings: dict) -> Container:
    """A container from `ACCOUNTS_SYNC_*` settings with the prefix removed and keys lowered."""
    container = Container()
    merged = {**DEFAULTS, **settings}
    if merged.get("redis_url"):
        if "job_queue" not in settings:
            merged["job_queue"] = "rq"
        if "rate_limiter" not in settings:
            merged["rate_limiter"] = "redis"
    elif merged["job_queue"] == "rq" or merged["rate_limiter"] == "redis":
        raise ValueError(
            "Set ACCOUNTS_SYNC_REDIS_URL: the RQ job queue and the shared rate limiter live in Redis."
        )
    if not merged.get("scheduler"):
        merged["scheduler"] = "rq" if merged["job_queue"] == "rq" else "in_process"
    elif merged["scheduler"] == "rq" and merged["job_queue"] != "rq":
        raise ValueError("ACCOUNTS_SYNC_SCHEDULER=rq runs schedules on the RQ workers: set "
                         "ACCOUNTS_SYNC_REDIS_URL and leave ACCOUNTS_SYNC_JOB_QUEUE unset or 'rq'.")
    if merged["scheduler"] not in ("in_process", "rq", "off"):
        raise ValueError(f"ACCOUNTS_SYNC_SCHEDULER '{merged['scheduler']}' is not in_process, rq "
                         f"or off.")
    merged.setdefault("notifier", "smtp" if merged.get("smtp_host") else "none")
    if merged["notifier"] == "smtp" and merged.get("smtp_security") not in ("starttls", "ssl", "none"):
        raise ValueError(f"ACCOUNTS_SYNC_SMTP_SECURITY '{merged.get('smtp_security')}' is not "
                         f"starttls, ssl or none.")
    if merged["gateway"] == "xero" and not merged.get("secret_key"):
        raise ValueError(
            "Set ACCOUNTS_SYNC_SECRET_KEY: Xero tokens are encrypted at rest with a key from it."
        )
    if merged.get("secret_key"):
        weak = weak_secret(merged["secret_key"])
        if weak:
            raise ValueError(f"ACCOUNTS_SYNC_SECRET_KEY {weak}")
    container.config.from_dict(merged)
    return container


__all__ = ["Container", "XeroConnector", "build_container", "weak_secret"]
