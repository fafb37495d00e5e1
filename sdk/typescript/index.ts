// The Switchyard management API client for TypeScript: openapi-fetch over the types that
// openapi-typescript generates from api/openapi.json (schema.d.ts, written by `make sdk`).
import createClient from "openapi-fetch";
import type { components, paths } from "./schema";

export type { components, operations, paths } from "./schema";
export type Schemas = components["schemas"];
/** Every error is an RFC 9457 problem (`application/problem+json`). */
export type ProblemDetails = Schemas["ProblemDetails"];

/** A client for one tenant's API key: `client.GET("/v1/connections")` and so on, typed by path. */
export function createSwitchyardClient(baseUrl: string, apiKey: string) {
  return createClient<paths>({
    baseUrl,
    headers: { Authorization: `Bearer ${apiKey}` },
  });
}
