//! What checking traffic against the spec costs the fakes per request: a typical HubSpot list
//! call (`GET /crm/v3/objects/contacts?limit=100&after=..&properties=..`, 100 contacts in the
//! answer), request check, response check and both.
//!
//! ```text
//! cargo bench -p switchyard-fakes --bench spec_overhead
//! ```

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use serde_json::json;
use switchyard_fakes::spec::{RequestParts, ResponseParts, Spec};

fn contacts_page() -> Vec<u8> {
    let results: Vec<_> = (0..100)
        .map(|i| {
            json!({
                "id": format!("{}", 1001 + i),
                "properties": {
                    "email": format!("contact{i}@example.com"),
                    "firstname": format!("First{i}"),
                    "lastname": format!("Last{i}"),
                    "createdate": "2024-05-01T10:00:00.000Z",
                    "lastmodifieddate": "2024-05-02T10:00:00.000Z",
                    "hs_object_id": format!("{}", 1001 + i),
                },
                "createdAt": "2024-05-01T10:00:00.000Z",
                "updatedAt": "2024-05-02T10:00:00.000Z",
                "archived": false,
            })
        })
        .collect();
    serde_json::to_vec(&json!({
        "results": results,
        "paging": {"next": {"after": "1101", "link": "http://127.0.0.1/crm/v3/objects/contacts?after=1101"}},
    }))
    .expect("the page serialises")
}

fn bench(c: &mut Criterion) {
    let files = ["hubspot/contacts.yaml", "hubspot/companies.yaml", "hubspot/deals.yaml"].map(String::from);
    let spec = Spec::load(&files).unwrap_or_else(|e| panic!("{e}"));
    let body = contacts_page();
    let request = RequestParts {
        method: "GET",
        path: "/crm/v3/objects/contacts",
        query: Some("limit=100&after=1001&archived=false&properties=email,firstname,lastname,lastmodifieddate"),
        headers: vec![("authorization".into(), "Bearer pat-na1-fake-hubspot-token".into())],
        ..RequestParts::default()
    };
    let response = ResponseParts {
        status: 200,
        content_type: Some("application/json"),
        body: &body,
    };
    // Compile the validators once, as the first request of a run does.
    let checked = spec.check_request(&request);
    assert!(checked.violations.is_empty(), "{:?}", checked.violations);
    let matched = checked.matched.expect("the list operation matches");
    assert!(spec.check_response(&matched, &request, &response).is_empty());

    let mut group = c.benchmark_group("hubspot_list_100");
    group.bench_function("request_check", |b| {
        b.iter(|| black_box(spec.check_request(black_box(&request))))
    });
    group.bench_function("response_check", |b| {
        b.iter(|| black_box(spec.check_response(&matched, black_box(&request), black_box(&response))))
    });
    group.bench_function("request_and_response", |b| {
        b.iter(|| {
            let checked = spec.check_request(black_box(&request));
            let matched = checked.matched.expect("matches");
            black_box(spec.check_response(&matched, &request, black_box(&response)))
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
