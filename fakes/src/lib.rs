//! Fake SaaS servers for Switchyard's tests and benches.
//!
//! Two kinds live here:
//!
//! * [`spec_fake`]: one generic, stateful fake driven by a provider's published spec (read
//!   from `SWITCHYARD_SPECS_DIR`, default `../shared/specs`; see [`spec`]) and a short
//!   [`profile`] (`fakes/profiles/<provider>.yaml`: hubspot, stripe). Every request and
//!   response is checked against the spec; violations are recorded (`GET /_fake/violations`,
//!   `handle.violations()`). It can also stand in front of another server as a checking proxy
//!   (localstripe). This is what connector conformance tests use.
//! * the hand-written fakes below, kept for behaviour a profile does not express (HubSpot's
//!   batch endpoints, idProperty, property validation and unique-email conflicts; Slack's
//!   per-channel posting limit). Their traffic can be checked against the spec too
//!   (`spec_check: Some(SpecCheck::hubspot())`, violations on `handle.violations`).
//!
//! Each fake follows its provider's documented request and response shapes, limits and
//! rate-limit behaviour closely enough that a connector tested against it works against the
//! real service:
//!
//! * [`hubspot`]: CRM v3 objects (contacts, companies, deals), batch endpoints, search, OAuth
//!   token refresh, the 100-requests-per-10-seconds rolling limit;
//! * [`pipedrive`]: API v1 persons, organizations, deals and the recents feed, with Pipedrive's
//!   read and write shapes (which differ) and its burst limit;
//! * [`slack`]: `chat.postMessage` and `auth.test`, with the per-channel posting limit;
//! * [`webhook_sink`]: records every delivery and verifies Standard Webhooks signatures;
//! * [`odata`]: a generic stateful OData v2 service built from the service's EDMX metadata and a
//!   short profile (`kind: odata_v2`: SAP S/4HANA's business partners), every request and
//!   response checked against the metadata, with SAP Gateway's CSRF token check;
//! * [`sage_intacct`]: the Sage Intacct XML gateway (sessions, readByQuery/readMore, create),
//!   following developer.intacct.com (no published description).
//! * [`netsuite`]: SuiteQL over customers and the REST record API, with token-based (OAuth 1.0a)
//!   signatures verified, following Oracle's documentation (no spec is published);
//! * [`zoho_crm`]: Zoho CRM v2.1 leads, contacts, accounts and deals (lists with page tokens and
//!   If-Modified-Since, upserts answered record by record) and its accounts server;
//! * [`magento`]: Magento 2 / Adobe Commerce customers, orders and products searched with
//!   `searchCriteria` (a page past the end repeats the last), checked against the Magento cart
//!   spec with the missing operations added from Adobe's reference;
//! * [`woocommerce`]: REST API v3 customers, orders and products (bare-array lists with
//!   `X-WP-TotalPages`), checked against WooCommerce's documentation pages (no spec is published);
//! * [`asana`]: tasks and projects with `offset` tokens and `opt_fields`, task writes;
//! * [`github`]: REST issues, pull requests and repositories with Link-header paging, the
//!   objects built from GitHub's own response schemas;
//! * [`notion`]: a database queried with `start_cursor` in the POST body, page create and
//!   update, the `Notion-Version` header;
//! * [`xero`]: Xero Accounting contacts and invoices (`page` paging, If-Modified-Since, contacts
//!   created and updated in batches answered record by record) and its identity server with
//!   single-use rotating refresh tokens;
//! * [`dropbox`]: API v2 files listed with `list_folder` / `list_folder/continue` cursors,
//!   `get_metadata` and `create_folder_v2`, checked against Dropbox's partial spec with the
//!   documented list operations added;
//! * [`paypal`]: Invoicing v2 invoices (numbered pages, search on `creation_date_range`,
//!   create and update) and catalog products, with the client-credentials token server;
//! * [`zendesk`]: Support API v2 tickets and users through the cursor-based incremental
//!   exports, ticket create and update, following developer.zendesk.com (no spec is published);
//! * [`canvas`]: Canvas LMS users, courses, enrollments and submissions with Link-header paging
//!   and the leaky-bucket throttle (`X-Request-Cost`, `X-Rate-Limit-Remaining`, text 403s);
//! * [`d2l`]: D2L Brightspace (Valence) users, enrolled users and final grades under versioned
//!   `/d2l/api/lp|le/{version}/` routes, `PagedResultSet` bookmarks and `ObjectListPage` next
//!   URLs, and the OAuth 2.0 token service with single-use refresh tokens;
//! * [`moodle`]: web services over REST (`wstoken`, `wsfunction`, bracket-encoded forms, errors
//!   as HTTP 200 exception bodies): users, courses, enrolled users, user creation and manual
//!   enrolment, every call checked against the functions' documented descriptions;
//! * [`quickbooks`]: QuickBooks Online customers, invoices, payments and items read with the
//!   query language (`startposition`/`maxresults`), written with the `SyncToken` rule, and its
//!   OAuth token endpoint whose refresh tokens rotate;
//! * [`axcelerate`]: aXcelerate contacts, course instances and enrolments (`offset` paging,
//!   the `apitoken` and `wstoken` headers, form-field writes), following aXcelerate's developer
//!   pages (no spec is published);
//! * [`vettrak`]: the VETtrak API web service over SOAP 1.1 (ValidateClient tokens, clients,
//!   a client's enrolments and unit results, AddClientAfterCheck), following VETtrak's
//!   operation help pages, with the operations it could not read marked assumed;
//! * [`jr_plus`]: ReadyTech JR Plus parties and enrolments over REST with XML bodies and basic
//!   auth with the API key, following developer.jobready.io/plus where it could be read and
//!   naming what it assumes;
//! * [`mailchimp`]: Marketing API v3 audiences, members (offset lists, `since_last_changed`,
//!   subscriber hashes), upserts by PUT and batch subscribe, campaigns and their email activity,
//!   following Mailchimp's reference pages (its description is not kept in specs/);
//! * [`calendly`]: API v2 scheduled events and their invitees (`page_token` paging), following
//!   developer.calendly.com (no spec is kept);
//! * [`snowflake`]: the SQL API v2 (statements with bindings, key-pair JWTs verified with the
//!   user's public key, result partitions, 202 and status polling);
//! * [`bigquery`]: jobs.query / getQueryResults with page tokens and tabledata.insertAll with
//!   per-row `insertErrors`, beside Google's token endpoint for service-account assertions;
//! * [`power_bi`]: push-dataset rows (all or nothing) and dataset refreshes, beside the Entra
//!   ID token endpoint;
//! * [`tableau`]: personal-access-token sign-in and extract refreshes, following Tableau's REST
//!   API reference (no spec is published);
//! * [`paged_source`]: a generic cursor-paged REST source of N generated records, also served in
//!   the page-numbered shape the `generic-rest` template documents.
//!
//! A test starts a fake in-process with `start(config)`; it listens on a free loopback port
//! (`127.0.0.1:0`) on its own thread and runtime, so it keeps serving whatever the test's
//! runtime does, and it stops when the returned [`FakeHandle`] is dropped. The handle gives the
//! base URL, the fake's state (stored objects, posted messages, deliveries) without HTTP, the
//! [`RequestLog`] and the [`Faults`] switchboard:
//!
//! ```no_run
//! use switchyard_fakes::{hubspot, FaultConfig};
//!
//! let hub = hubspot::start(hubspot::HubspotConfig::default());
//! println!("point the connector at {}", hub.base_url);
//! hub.faults.configure(FaultConfig { seed: 7, server_error_ratio: 0.2, ..FaultConfig::default() });
//! // ... run the code under test ...
//! assert_eq!(hub.rate_limited_count(), 0);
//! println!("{} requests, {} contacts", hub.requests.len(), hub.count(hubspot::ObjectType::Contacts));
//! ```
//!
//! The `switchyard-fakes` binary serves the same fakes on fixed ports for manual runs, and
//! `switchyard-fakes serve <provider> --port N [--records K] [--rate-limit 100/10s] [--proxy URL]`
//! serves one spec-driven fake.

pub mod amazon_sp;
pub mod asana;
pub mod axcelerate;
pub mod bigquery;
pub mod calendly;
pub mod canvas;
pub mod cloudassess;
pub mod coursebox;
pub mod d2l;
pub mod dropbox;
pub mod dynamics;
pub mod eskilled;
pub mod faults;
pub mod github;
pub mod hubspot;
pub mod jr_plus;
pub mod linear;
pub mod magento;
pub mod mailchimp;
pub mod microsoft_graph;
pub mod moodle;
pub mod myob;
pub mod netsuite;
pub mod notion;
pub mod odata;
pub mod oracle_erp;
pub mod paged_source;
pub mod paypal;
pub mod pipedrive;
pub mod power_bi;
pub mod profile;
pub mod quickbooks;
pub mod rate_limit;
pub mod requests;
pub mod sage_intacct;
pub mod salesforce;
mod server;
pub mod shopify;
pub mod slack;
pub mod snowflake;
pub mod spec;
pub mod spec_fake;
pub mod tableau;
mod timestamp;
pub mod vettrak;
pub mod webhook_sink;
pub mod woocommerce;
pub mod xero;
pub mod zendesk;
pub mod zoho_crm;

pub use faults::{Fault, FaultConfig, FaultCounts, Faults, TimeoutMode};
pub use rate_limit::RateLimit;
pub use requests::{RequestLog, RequestRecord};
pub use server::FakeHandle;
