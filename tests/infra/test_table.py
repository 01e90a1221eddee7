"""The Table component: billing, keys, encryption, recovery, expiry and indexes."""

from __future__ import annotations

from typing import Any

from infra.stack import Deployment
from stack.spec import App
from tests.infra.fakes import SYNTHETIC_PREFIX
from tests.infra.harness import TABLE, Run


def table(run: Run[Deployment], name: str) -> dict[str, Any]:
    [found] = [r.inputs for r in run.mocks.of_type(TABLE) if r.inputs["name"] == name]
    return found


def test_every_table_is_on_demand_encrypted_and_string_keyed(
    app: App, run: Run[Deployment]
) -> None:
    for spec in app.tables:
        inputs = table(run, app.physical_name(spec.name))
        assert inputs["billingMode"] == "PAY_PER_REQUEST"
        assert inputs["serverSideEncryption"] == {"enabled": True}
        assert inputs["hashKey"] == spec.partition_key
        assert inputs["attributes"] == [{"name": spec.partition_key, "type": "S"}]
        assert "readCapacity" not in inputs
        assert "writeCapacity" not in inputs


def test_point_in_time_recovery_and_ttl_follow_the_spec(app: App, run: Run[Deployment]) -> None:
    dedupe = table(run, app.physical_name("dedupe"))
    assert dedupe["pointInTimeRecovery"] == {"enabled": True}
    assert dedupe["ttl"] == {"attributeName": "expiresAt", "enabled": True}
    status = table(run, app.physical_name("status"))
    assert "ttl" not in status


def test_tables_are_protected_from_deletion_by_default(app: App, run: Run[Deployment]) -> None:
    for spec in app.tables:
        assert table(run, app.physical_name(spec.name))["deletionProtectionEnabled"] is True


def test_deletion_protection_and_pitr_can_be_turned_off(synthetic_run: Run[Deployment]) -> None:
    items = table(synthetic_run, f"{SYNTHETIC_PREFIX}-items")
    assert items["deletionProtectionEnabled"] is False
    assert items["pointInTimeRecovery"] == {"enabled": False}


def test_indexes_and_sort_keys_define_each_attribute_once(synthetic_run: Run[Deployment]) -> None:
    items = table(synthetic_run, f"{SYNTHETIC_PREFIX}-items")
    assert items["rangeKey"] == "version"
    assert items["attributes"] == [
        {"name": "id", "type": "S"},
        {"name": "version", "type": "S"},
        {"name": "owner", "type": "S"},
        {"name": "state", "type": "S"},
    ]
    assert items["globalSecondaryIndexes"] == [
        {
            "name": "by-owner",
            "projectionType": "ALL",
            "keySchemas": [
                {"attributeName": "owner", "keyType": "HASH"},
                {"attributeName": "version", "keyType": "RANGE"},
            ],
        },
        {
            "name": "by-state",
            "projectionType": "ALL",
            "keySchemas": [{"attributeName": "state", "keyType": "HASH"}],
        },
    ]
