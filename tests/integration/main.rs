//! Integration tests against the local AWS emulator, in one test binary (one link of the AWS SDK).

mod conformance;
mod destinations;
mod events;
mod flows_netsuite;
mod flows_sap_s4hana;
mod health;
mod indexes;
mod magento_flows;
mod outbound;
mod pipedrive_flows;
mod quality;
mod rate_budget;
mod receiver;
mod retry;
mod signing;
mod sql_flows;
mod sync;
mod template;
mod two_way;
mod woocommerce_flows;
mod xero_flows;
mod zoho_crm_flows;
