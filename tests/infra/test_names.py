"""Names AWS holds globally are unique by construction: no two accounts or regions share one."""

from __future__ import annotations

from itertools import combinations

from infra.config import read_config
from infra.stack import Deployment, deploy
from stack.app import build_app
from tests.infra.harness import BUCKET, RecordingMocks, run_program

# Two users who follow the README word for word (same prefix), and one of them in two regions.
PLACES = (
    ("111122223333", "eu-west-1"),
    ("444455556666", "eu-west-1"),
    ("111122223333", "us-east-2"),
)


def bucket_names(account: str, region: str) -> set[str]:
    """The bucket names ``pulumi up`` asks S3 for, with the default config, as __main__ runs."""

    def program() -> Deployment:
        config = read_config()
        return deploy(build_app(config.stack), config.infra)

    mocks = RecordingMocks(region=region, account=account)
    run = run_program(
        program, config={"stepflow:prefix": "stepflow-dev"}, region=region, mocks=mocks
    )
    return {bucket.inputs["bucket"] for bucket in run.mocks.of_type(BUCKET)}


def test_every_bucket_name_carries_the_account_and_region() -> None:
    for account, region in PLACES:
        names = bucket_names(account, region)
        assert len(names) == len(build_app().buckets)
        for name in names:
            # Not left to Pulumi's autonaming either: the local runtime must find the same name.
            assert name.endswith(f"-{account}-{region}"), name


def test_two_accounts_or_two_regions_never_ask_for_the_same_bucket_name() -> None:
    named = {place: bucket_names(*place) for place in PLACES}
    for first, second in combinations(PLACES, 2):
        assert named[first].isdisjoint(named[second]), (first, second)
