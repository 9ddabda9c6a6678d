import pytest

from accounts_sync.application.execute_run import ExecuteRun
from accounts_sync.application.post_journals import PostJournals
from accounts_sync.application.sync_documents import SyncDocuments
from tests.builders import mapping
from tests.fakes import FakeClock, FakeGateway, InMemoryStore, uow_factory


@pytest.fixture
def store():
    s = InMemoryStore()
    s.state.mapping = mapping()
    return s


@pytest.fixture
def gateway():
    return FakeGateway()


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def uow(store):
    return uow_factory(store)


@pytest.fixture
def execute_run(uow, gateway, clock):
    return ExecuteRun(uow, gateway, clock)


@pytest.fixture
def sync(uow, clock, execute_run):
    return SyncDocuments(uow, clock, execute_run)


@pytest.fixture
def post(uow, clock, execute_run):
    return PostJournals(uow, clock, execute_run)
