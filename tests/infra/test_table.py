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
        assert inputs.get("rangeKey") == spec.sort_key
        keys = [spec.partition_key, spec.sort_key]
        for index in spec.indexes:
            keys += [index.partition_key, index.sort_key]
        # Each key attribute once, and nothing else (DynamoDB refuses an unused definition).
        assert inputs["attributes"] == [
            {"name": key, "type": "S"} for key in dict.fromkeys(keys) if key is not None
        ]
        assert len(inputs.get("globalSecondaryIndexes", [])) == len(spec.indexes)
        assert "readCapacity" not in inputs
        assert "writeCapacity" not in inputs


def test_the_tables_of_the_description(app: App, run: Run[Deployment]) -> None:
    # Written out: (partition key, sort key, index names) per table.
    found = {
        inputs["name"].removeprefix(f"{app.config.prefix}-"): (
            inputs["hashKey"],
            inputs.get("rangeKey"),
            [index["name"] for index in inputs.get("globalSecondaryIndexes", [])],
        )
        for inputs in (r.inputs for r in run.mocks.of_type(TABLE))
    }
    assert found == {
        "dedupe": ("eventId", None, []),
        "status": ("trackingId", None, []),
        "circuit": ("circuitId", None, []),
        "enrichment-status": ("catalogId", "batchId", ["byUser"]),
        "products": ("catalogId", "productId", []),
        "redrives": ("messageKey", None, []),
        "idempotency": ("id", None, []),
    }


def test_the_enrichment_status_table_lists_a_users_enrichments_by_date(
    app: App, run: Run[Deployment]
) -> None:
    inputs = table(run, app.physical_name("enrichment-status"))
    assert (inputs["hashKey"], inputs["rangeKey"]) == ("catalogId", "batchId")
    assert inputs["attributes"] == [
        {"name": "catalogId", "type": "S"},
        {"name": "batchId", "type": "S"},
        {"name": "userId", "type": "S"},
        {"name": "createdAt", "type": "S"},
    ]
    # Sparse: only the summary rows carry userId. ALL: the listing answers from the index alone.
    assert inputs["globalSecondaryIndexes"] == [
        {
            "name": "byUser",
            "projectionType": "ALL",
            "keySchemas": [
                {"attributeName": "userId", "keyType": "HASH"},
                {"attributeName": "createdAt", "keyType": "RANGE"},
            ],
        }
    ]
    assert inputs["pointInTimeRecovery"] == {"enabled": True}
    assert "ttl" not in inputs


def test_the_products_table_holds_one_item_per_catalog_product(
    app: App, run: Run[Deployment]
) -> None:
    inputs = table(run, app.physical_name("products"))
    assert (inputs["hashKey"], inputs["rangeKey"]) == ("catalogId", "productId")
    assert inputs["attributes"] == [
        {"name": "catalogId", "type": "S"},
        {"name": "productId", "type": "S"},
    ]
    assert "globalSecondaryIndexes" not in inputs
    assert inputs["pointInTimeRecovery"] == {"enabled": True}


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
