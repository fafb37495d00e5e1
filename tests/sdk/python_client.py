"""Drives the local management API with the Python client that `make sdk` generates.

Started by tests/integration/sdk.rs, which generates the client (openapi-python-client) into a
temporary directory on PYTHONPATH and serves the API on loopback with moto behind it. Every
call goes through the generated functions and models; the script fails on the first answer that
is not the one expected, and prints what it made as one JSON line for the Rust side to check.

Environment: SWITCHYARD_API_URL, SWITCHYARD_API_KEY (an admin key), SWITCHYARD_RUN (makes ids
unique), SWITCHYARD_PROVIDER_URL (the HubSpot fake the connections point at).
"""

import json
import os
import sys

from switchyard_client import AuthenticatedClient
from switchyard_client.api.connections import create_connection, list_connections, show_connection
from switchyard_client.api.connectors import list_connectors
from switchyard_client.api.flows import create_flow, list_flows
from switchyard_client.models import (
    ConnectionView,
    NewConnection,
    NewConnectionConfig,
    NewConnectionCredentials,
    NewFlow,
    PageBodyConnectionView,
    PageBodyConnectorView,
    PageBodyFlow,
    ProblemDetails,
)


def expect(response, status, model):
    """The typed answer, when the status and its parsed type are the expected ones."""
    if response.status_code != status or not isinstance(response.parsed, model):
        sys.exit(
            f"expected {status} {model.__name__}, got {int(response.status_code)} "
            f"{type(response.parsed).__name__}: {response.content.decode(errors='replace')}"
        )
    return response.parsed


def main():
    run = os.environ["SWITCHYARD_RUN"]
    provider_url = os.environ["SWITCHYARD_PROVIDER_URL"]
    credential = os.environ["SWITCHYARD_CREDENTIAL"]
    client = AuthenticatedClient(
        base_url=os.environ["SWITCHYARD_API_URL"], token=os.environ["SWITCHYARD_API_KEY"], timeout=30.0
    )
    with client:
        # Connectors: every built-in definition, paged.
        connectors = []
        cursor = None
        while True:
            page = expect(
                list_connectors.sync_detailed(client=client, limit=50, cursor=cursor), 200, PageBodyConnectorView
            )
            connectors += [c.id for c in page.items]
            if not page.next_cursor:
                break
            cursor = page.next_cursor
        for needed in ("hubspot", "stripe"):
            if needed not in connectors:
                sys.exit(f"list_connectors has no {needed}: {connectors}")

        # Two connections (the credential goes to Secrets Manager and never comes back).
        made = []
        for side in ("source", "destination"):
            created = expect(
                create_connection.sync_detailed(
                    client=client,
                    body=NewConnection(
                        id=f"conn_sdk_{side}_{run}",
                        provider="hubspot",
                        name=f"HubSpot {side} (Python SDK)",
                        config=NewConnectionConfig.from_dict({"base_url": provider_url}),
                        credentials=NewConnectionCredentials.from_dict({"access_token": credential}),
                    ),
                ),
                201,
                ConnectionView,
            )
            if not created.has_credentials:
                sys.exit(f"{created.id}: has_credentials is false")
            if credential in json.dumps(created.to_dict()):
                sys.exit(f"{created.id}: the credential came back")
            made.append(created.id)
        listed = expect(list_connections.sync_detailed(client=client, limit=100), 200, PageBodyConnectionView)
        missing = set(made) - {c.id for c in listed.items}
        if missing:
            sys.exit(f"list_connections lacks {missing}")

        # A flow between them, then the list of flows.
        flow_id = f"flow_sdk_{run}"
        expect(
            create_flow.sync_detailed(
                client=client,
                body=NewFlow(
                    id=flow_id,
                    source=made[0],
                    stream="contacts",
                    destination=made[1],
                    operation="contacts.upsert_by_email",
                    mapping="{properties: {email: .properties.email}}",
                ),
            ),
            201,
            object,
        )
        flows = expect(list_flows.sync_detailed(client=client), 200, PageBodyFlow)
        if flow_id not in [f.id for f in flows.items]:
            sys.exit(f"list_flows lacks {flow_id}: {[f.id for f in flows.items]}")

        # A connection that is not there: a typed RFC 9457 problem.
        problem = expect(
            show_connection.sync_detailed(client=client, id=f"conn_sdk_missing_{run}"), 404, ProblemDetails
        )
        if problem.status != 404 or not problem.type_.startswith("/v1/problems/"):
            sys.exit(f"not a 404 problem: {problem.to_dict()}")

    print(
        json.dumps(
            {
                "connectors": len(connectors),
                "connections": made,
                "flow": flow_id,
                "problem": {"type": problem.type_, "status": problem.status, "title": problem.title},
            }
        )
    )


if __name__ == "__main__":
    main()
