"""Schemathesis checks of tests/integration/sdk.rs (loaded with SCHEMATHESIS_HOOKS).

`refused_without_a_valid_key`: for the runs without a key and with a key that is not one. Every
operation of the document needs a key, so every answer must be a 401 problem, whatever the
request: no route may answer (nor fail) before it has checked the key. The one exception is a
method the document does not declare for the path (Schemathesis sends TRACE, QUERY, ...): that
request names no operation, and its answer is a 405 naming the methods there are (`Allow`).
"""

import schemathesis


@schemathesis.check
def refused_without_a_valid_key(ctx, response, case):
    if case.method.upper() != case.operation.method.upper():
        if response.status_code != 405 or "allow" not in response.headers:
            raise AssertionError(
                f"{case.method} {case.formatted_path} (a method the document does not declare there) answered "
                f"{response.status_code}, not a 405 with Allow: {response.text[:300]}"
            )
        return
    if response.status_code != 401:
        raise AssertionError(
            f"{case.method} {case.formatted_path} answered {response.status_code} without a valid key "
            f"(expected 401): {response.text[:300]}"
        )
    content_type = response.headers.get("content-type", [""])[0]
    if content_type != "application/problem+json":
        raise AssertionError(f"the 401 is {content_type!r}, not an application/problem+json problem")
    if "www-authenticate" not in {name.lower() for name in response.headers}:
        raise AssertionError("the 401 names no WWW-Authenticate scheme")
