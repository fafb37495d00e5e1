// Compiled (never run) by `make sdk`: it proves the generated types describe the calls a user
// writes. A change to the API that breaks these calls fails `make sdk`.
import { createSwitchyardClient, type ProblemDetails, type Schemas } from "./index";

export async function example(baseUrl: string, apiKey: string): Promise<string[]> {
  const client = createSwitchyardClient(baseUrl, apiKey);
  const connectors = await client.GET("/v1/connectors", { params: { query: { limit: 10 } } });
  const ids: string[] = (connectors.data?.items ?? []).map((c: Schemas["ConnectorView"]) => c.id);
  const shown = await client.GET("/v1/connections/{id}", { params: { path: { id: "conn_missing" } } });
  if (shown.error) {
    const problem: ProblemDetails = shown.error;
    ids.push(problem.type);
  }
  const flows = await client.GET("/v1/flows");
  for (const flow of flows.data?.items ?? []) {
    ids.push(flow.id);
  }
  return ids;
}
