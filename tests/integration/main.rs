//! Integration tests against the local AWS emulator, in one test binary (one link of the AWS SDK).

mod api;
mod conformance;
mod destinations;
mod events;
mod flows_netsuite;
mod flows_sap_s4hana;
mod health;
mod indexes;
mod outbound;
mod pipedrive_flows;
mod rate_budget;
mod receiver;
mod retry;
mod signing;
mod sql_flows;
mod sync;
mod template;
mod zoho_crm_flows;
