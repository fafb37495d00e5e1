//! The two-way soak (issue 12's proof), shared by the default test
//! (`tests/integration/two_way_soak.rs`) and the longer bench (`tests/benches/two_way_soak.rs`).
//!
//! Two HubSpot portals (the in-repo fake) hold the same contacts, and a two-way link pairs the
//! flows between them (`contacts` -> `contacts.upsert_by_email` both ways, deletes
//! propagated). Each round, people edit and delete contacts on both sides through the portals'
//! API (some contacts edited on both sides in the same round); then, with each portal
//! answering one request in ten with a fault (half 500s, half 429s):
//!
//! 1. each portal's webhook deliveries for those changes (HubSpot's signed v3 events, one per
//!    changed property, `contact.deletion` for a delete; one in five lost on the way) go
//!    through the receiver to the sync queue and are run as connector-sync runs them;
//! 2. the deliveries for the changes the engine itself made (its writes and deletes) follow
//!    the same way: every one must be dropped as an echo;
//! 3. the scheduled incremental runs of both directions pick up what the lost deliveries
//!    missed, then (every round, or after the last one: [`SoakConfig::full_every_round`]) a
//!    full reconciliation run of each direction, the only thing that notices a delete whose
//!    delivery was lost; the deliveries their writes cause follow again.
//!
//! Then both portals must hold exactly what the link's rule dictates, the portals' write
//! counts must equal the changes that needed propagating (no echo written), and neither may
//! hold a contact twice. Under `manual`, every contact edited on both sides is in the review
//! queue with both versions and the base, and neither side was written for it. The panics say
//! which round and contact went wrong.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use secrecy::SecretString;
use serde_json::{json, Value};
use switchyard::admin::{create_connection, NewWebhookSecrets};
use switchyard::clock::{Clock, SystemClock};
use switchyard::config::{ReceiverConfig, SyncConfig};
use switchyard::connector::Registry;
use switchyard::queue::{Envelope, SyncJobRef, SyncMessage};
use switchyard::receiver::{handle, ReceiverDeps};
use switchyard::store::connections::{Connection, WebhookSettings};
use switchyard::store::flows::{ConflictRule, DeleteRule, Flow, SyncMode};
use switchyard::store::jobs::Job;
use switchyard::sync::{self, link_flows, JobOutcome, LinkPolicy, PageCounts, SyncDeps, SyncError};
use switchyard::webhook::Scheme;
use switchyard_fakes::hubspot::{self, CrmObject, Hubspot, HubspotConfig, ObjectType};
use switchyard_fakes::rate_limit::RateLimit;
use switchyard_fakes::{FakeHandle, FaultConfig, TimeoutMode};

use crate::TestEnv;

/// The same fields both ways.
const MAPPING: &str = r#"{properties: {email: .properties.email, firstname: .properties.firstname,
                          lastname: .properties.lastname}}"#;
/// The HubSpot app's secret the portals sign their v3 deliveries with.
const APP_SECRET: &str = "hs-soak-app-secret-61c0";
/// The token the people editing the portals use (the engine uses [`hubspot::TEST_TOKEN`]):
/// the fake's rate limit is per token, as HubSpot's is per app.
const PERSON_TOKEN: &str = "pat-na1-soak-person-token";
const FIELDS: [&str; 2] = ["firstname", "lastname"];

/// What a soak does.
#[derive(Debug, Clone)]
pub struct SoakConfig {
    pub contacts: usize,
    pub rounds: usize,
    /// Edits per round, on either side; one in ten is a delete.
    pub edits: usize,
    /// The link's conflict rule: `NewestWins` or `Manual`.
    pub rule: ConflictRule,
    /// Share of each portal's answers that are injected faults (half 500s, half 429s).
    pub fault_ratio: f64,
    /// Share of webhook deliveries lost on the way.
    pub lost_ratio: f64,
    /// A full reconciliation run each way every round; else only after the last round's
    /// incremental runs. A delete's delivery is lost only in a round with full runs (nothing
    /// else notices such a delete).
    pub full_every_round: bool,
    pub seed: u64,
}

/// What a soak counted.
#[derive(Debug, Clone, Default)]
pub struct SoakReport {
    pub contacts: usize,
    pub rounds: usize,
    /// Person edits and deletes made through the portals' API.
    pub person_edits: u64,
    pub person_deletes: u64,
    /// Contacts whose change needed propagating (one write each), and deletes to propagate.
    pub expected_writes: u64,
    pub expected_deletes: u64,
    /// Records the engine wrote to the portals (the portals' own write counts, less the
    /// people's edits), and contacts it deleted (204s to its DELETEs).
    pub writes: u64,
    pub deletes: u64,
    /// Echo writes: writes beyond the changes that needed propagating.
    pub echo_writes: u64,
    /// Echoes the engine recognised and dropped (events and runs).
    pub echoes_dropped: u64,
    /// Contacts held twice on a side (always 0 when the soak returns).
    pub duplicates: u64,
    pub conflicts_yielded: u64,
    /// Contacts edited on both sides under `manual`: each parked in the review queue.
    pub conflicts_parked: u64,
    /// Webhook events delivered (accepted by the receiver) and lost on purpose.
    pub events_delivered: u64,
    pub events_lost: u64,
    /// Event runs and sync jobs tried again after a retriable failure.
    pub event_retries: u64,
    pub job_retries: u64,
    /// Faults the portals injected: 500s and 429s; 429s from their own rate limit.
    pub injected_500s: u64,
    pub injected_429s: u64,
    pub own_429s: u64,
    /// Per round, the time from the last edit to both portals holding what the rule dictates.
    pub converge: Vec<Duration>,
    /// The deliveries of the engine's own changes (all echoes): how many were run, and the
    /// process CPU time and DynamoDB requests running them took (the receiver's part
    /// excluded).
    pub echo_events: u64,
    pub echo_cpu: Duration,
    pub echo_dynamodb: u64,
    /// The receiver's part of every delivery: events accepted, DynamoDB and SQS requests.
    pub receiver_dynamodb: u64,
    pub receiver_sqs: u64,
    /// Where the rounds' time went, by phase.
    pub phases: BTreeMap<&'static str, Duration>,
    /// The seed and the first copy, before the rounds.
    pub start: Duration,
}

impl SoakReport {
    /// One line per figure, for `--nocapture` and the bench.
    pub fn summary(&self, rule: ConflictRule) -> String {
        let converge: Vec<String> = self
            .converge
            .iter()
            .map(|d| format!("{:.1}", d.as_secs_f64()))
            .collect();
        format!(
            "two-way soak ({rule:?}): {} contacts, {} rounds; {} person edits and {} deletes\n  \
             writes: {} records written for {} changes that needed propagating, {} deletes for {}; \
             echo writes: {}; duplicates: {}\n  \
             echoes dropped: {}; conflicts yielded to the newer side: {}; conflicts parked for review: {}\n  \
             webhook events: {} delivered, {} lost; event retries: {}; job retries: {}\n  \
             faults injected: {} 500s, {} 429s; 429s from the portals' own limit: {}\n  \
             converged after the last edit of each round in (s): {}\n  \
             time by phase (s): start {:.1}; {}",
            self.contacts,
            self.rounds,
            self.person_edits,
            self.person_deletes,
            self.writes,
            self.expected_writes,
            self.deletes,
            self.expected_deletes,
            self.echo_writes,
            self.duplicates,
            self.echoes_dropped,
            self.conflicts_yielded,
            self.conflicts_parked,
            self.events_delivered,
            self.events_lost,
            self.event_retries,
            self.job_retries,
            self.injected_500s,
            self.injected_429s,
            self.own_429s,
            converge.join(", "),
            self.start.as_secs_f64(),
            self.phases
                .iter()
                .map(|(k, v)| format!("{k} {:.1}", v.as_secs_f64()))
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

/// One contact as the model holds it: each side's (firstname, lastname), whether it was
/// deleted, and, once parked under `manual`, the values it was parked with.
#[derive(Debug, Clone)]
struct Contact {
    sides: [[String; 2]; 2],
    deleted: bool,
    parked: Option<Parked>,
}

#[derive(Debug, Clone)]
struct Parked {
    base: [String; 2],
}

/// A portal: the fake, its connection id and what the soak last saw of it.
struct Portal {
    hub: FakeHandle<Hubspot>,
    connection: String,
    portal_id: u64,
    /// Contacts by id as the last delivery saw them (live ones only).
    seen: BTreeMap<String, CrmObject>,
    /// The people's deletes and edits so far (to count the engine's apart).
    person_deletes: u64,
    person_edits: u64,
}

pub struct Soak {
    pub env: TestEnv,
    pub deps: SyncDeps,
    receiver: ReceiverDeps,
    scheme: Scheme,
    portals: [Portal; 2],
    flows: [Flow; 2],
    config: SoakConfig,
    model: Vec<Contact>,
    rng: u64,
    next_event: u64,
    http: reqwest::Client,
    pub report: SoakReport,
}

fn email(i: usize) -> String {
    format!("p{i}@example.com")
}

impl Soak {
    /// Both portals seeded with `contacts` contacts (A's copied to B by the first run), the
    /// flows linked and run once each way, nothing left to do.
    pub async fn start(config: SoakConfig) -> Soak {
        crate::log_capture::known_secret(APP_SECRET);
        let env = TestEnv::new().await;
        let tenant = format!("soak{}", ulid::Ulid::new().to_string().to_lowercase());
        let sync_config = SyncConfig::from_lookup(|k| match k {
            "TABLE_NAME" => Some(env.table.clone()),
            "SYNC_QUEUE_URL" => Some(env.queue_url.clone()),
            "ALLOW_PRIVATE_NETWORK" => Some("true".into()),
            _ => None,
        })
        .expect("the soak's sync config is complete");
        let registry = Registry::embedded().expect("the built-in definitions validate");
        let scheme = registry
            .get_shared("hubspot")
            .and_then(|d| d.webhooks.as_ref().map(|w| w.receiver_scheme()))
            .expect("HubSpot takes webhooks")
            .expect("HubSpot's scheme is known");
        let deps = SyncDeps::new(sync_config, &env.clients, Arc::new(registry), Arc::new(SystemClock))
            .expect("sync deps build");
        let receiver_config = ReceiverConfig::from_lookup(|k| match k {
            "TABLE_NAME" => Some(env.table.clone()),
            "SYNC_QUEUE_URL" => Some(env.queue_url.clone()),
            _ => None,
        })
        .expect("the soak's receiver config is complete");
        let receiver = ReceiverDeps::new(receiver_config, &env.clients, Arc::new(SystemClock));
        let mut portals = Vec::new();
        for (n, connection) in ["conn_soak_a", "conn_soak_b"].into_iter().enumerate() {
            // What the soak proves is convergence, not pacing (the rate-budget tests prove
            // that): the portal allows 100 requests a second and the connection paces at that,
            // instead of HubSpot's entry tier of 100 in 10 s.
            let hub = hubspot::start(HubspotConfig {
                tokens: vec![hubspot::TEST_TOKEN.to_owned(), PERSON_TOKEN.to_owned()],
                rate_limit: RateLimit::new(100, Duration::from_secs(1)),
                ..HubspotConfig::default()
            });
            let conn = Connection {
                id: connection.into(),
                tenant: tenant.clone(),
                provider: "hubspot".into(),
                name: connection.into(),
                webhook: Some(WebhookSettings {
                    scheme: scheme.clone(),
                    tolerance_secs: None,
                    handshake_until: None,
                }),
                secret_arn: None,
                config: json!({"base_url": hub.base_url, "rate_limit": {"requests": 100, "window_ms": 1000}})
                    .as_object()
                    .cloned()
                    .expect("an object"),
                created_at: 0,
            };
            create_connection(
                &deps.connections,
                &deps.secrets,
                conn,
                Some(NewWebhookSecrets {
                    current: SecretString::from(APP_SECRET.to_string()),
                    previous: None,
                }),
                json!({"access_token": hubspot::TEST_TOKEN})
                    .as_object()
                    .cloned()
                    .expect("an object"),
            )
            .await
            .expect("the portal's connection is created");
            portals.push(Portal {
                hub,
                connection: connection.into(),
                portal_id: 62_515 + n as u64,
                seen: BTreeMap::new(),
                person_deletes: 0,
                person_edits: 0,
            });
        }
        let flow = |id: &str, from: &str, to: &str| Flow {
            id: id.into(),
            tenant: tenant.clone(),
            name: id.into(),
            source_connection: from.into(),
            source_stream: "contacts".into(),
            destination_connection: to.into(),
            destination_operation: "contacts.upsert_by_email".into(),
            mapping: MAPPING.into(),
            mode: SyncMode::Incremental,
            schedule_interval_secs: Some(300),
            event_types: vec![],
            enabled: true,
            created_at: 0,
            cursor: None,
            next_run_at: None,
            retry_schedule_secs: None,
            reverse_flow: None,
            on_conflict: Default::default(),
            lookups: Vec::new(),
            match_on_create: None,
            on_delete: Default::default(),
            archive_mapping: None,
        };
        let a_to_b = flow("flow_a_to_b", "conn_soak_a", "conn_soak_b");
        let b_to_a = flow("flow_b_to_a", "conn_soak_b", "conn_soak_a");
        deps.flows.create(&a_to_b).await.expect("flow stored");
        deps.flows.create(&b_to_a).await.expect("flow stored");
        link_flows(
            &deps.link_context(),
            &a_to_b.id,
            &b_to_a.id,
            LinkPolicy {
                rule: config.rule,
                on_delete: DeleteRule::Propagate,
                ..Default::default()
            },
        )
        .await
        .expect("the two flows pair up");
        let a_to_b = deps.flows.get(&a_to_b.id).await.unwrap().expect("stored");
        let b_to_a = deps.flows.get(&b_to_a.id).await.unwrap().expect("stored");
        let portals: [Portal; 2] = portals.try_into().ok().expect("two portals");
        let started = Instant::now();
        let mut soak = Soak {
            env,
            deps,
            receiver,
            scheme,
            portals,
            flows: [a_to_b, b_to_a],
            model: Vec::new(),
            rng: config.seed | 1,
            next_event: 1,
            http: reqwest::Client::new(),
            report: SoakReport {
                contacts: config.contacts,
                rounds: config.rounds,
                ..SoakReport::default()
            },
            config,
        };
        for i in 0..soak.config.contacts {
            let names = [format!("First{i}"), format!("Last{i}")];
            soak.portals[0].hub.insert(
                ObjectType::Contacts,
                &[("email", &email(i)), ("firstname", &names[0]), ("lastname", &names[1])],
            );
            soak.model.push(Contact {
                sides: [names.clone(), names],
                deleted: false,
                parked: None,
            });
        }
        // The first runs, without faults: A's contacts reach B, and B -> A finds every one the
        // echo it was told to expect.
        let (job, _) = soak.run_job(0, Some(SyncMode::Full)).await;
        assert_eq!(job.counts.written, soak.config.contacts as u64, "{:?}", job.counts);
        let (job, _) = soak.run_job(1, Some(SyncMode::Full)).await;
        assert_eq!(job.counts.written, 0, "no echo of the first copy: {:?}", job.counts);
        for p in &mut soak.portals {
            p.seen = live(&p.hub);
        }
        soak.report.start = started.elapsed();
        soak
    }

    fn next(&mut self, n: usize) -> usize {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        (self.rng % n as u64) as usize
    }

    /// Runs every round; the report.
    pub async fn run(mut self) -> SoakReport {
        for round in 0..self.config.rounds {
            self.round(round).await;
        }
        self.finish()
    }

    /// The report, with the portals' fault and edit counts.
    pub fn finish(mut self) -> SoakReport {
        for p in &self.portals {
            let faults = p.hub.faults.counts();
            self.report.injected_500s += faults.server_errors;
            self.report.injected_429s += faults.rate_limited;
            self.report.own_429s += p.hub.rate_limited_count();
            self.report.person_edits += p.person_edits;
            self.report.person_deletes += p.person_deletes;
        }
        self.report.echo_writes = self.report.writes.saturating_sub(self.report.expected_writes)
            + self.report.deletes.saturating_sub(self.report.expected_deletes);
        self.report
    }

    /// One round: the people's edits, then everything that carries them over, checked.
    pub async fn round(&mut self, round: usize) {
        let (writes_before, deletes_before) = self.engine_writes();
        // Per contact touched this round: each side's values, which sides edited it, and the
        // side that edited it last.
        let edits_started = Instant::now();
        let mut touched: BTreeMap<usize, Touched> = BTreeMap::new();
        let live: Vec<usize> = (0..self.model.len())
            .filter(|&i| !self.model[i].deleted && self.model[i].parked.is_none())
            .collect();
        for k in 0..self.config.edits {
            let side = self.next(2);
            // Every third edit lands on a contact the other side edited this round, if any.
            let other_side: Vec<usize> = touched
                .iter()
                .filter(|(_, t)| t.edited[1 - side] && !t.deleted)
                .map(|(i, _)| *i)
                .collect();
            let i = if k % 3 == 2 && !other_side.is_empty() {
                other_side[self.next(other_side.len())]
            } else {
                live[self.next(live.len())]
            };
            if touched.get(&i).is_some_and(|t| t.deleted) {
                continue;
            }
            // One in ten is a delete (of a contact either side may have edited this round).
            if k % 10 == 9 {
                self.delete(side, i).await;
                let model = &self.model[i];
                touched
                    .entry(i)
                    .or_insert_with(|| Touched {
                        sides: model.sides.clone(),
                        edited: [false; 2],
                        last: side,
                        deleted: false,
                    })
                    .deleted = true;
                continue;
            }
            let field = self.next(2);
            let value = format!("R{round}E{k}S{side}");
            self.edit(side, i, field, &value).await;
            let entry = touched.entry(i).or_insert_with(|| Touched {
                sides: self.model[i].sides.clone(),
                edited: [false; 2],
                last: side,
                deleted: false,
            });
            entry.sides[side][field] = value;
            entry.edited[side] = true;
            entry.last = side;
            // Distinct modification times, so `newest` is always defined.
            tokio::time::sleep(Duration::from_millis(3)).await;
        }
        let last_edit = Instant::now();
        self.phase("people's edits", edits_started);

        // What the rule dictates, and the writes that takes.
        let (mut expected_writes, mut expected_deletes) = (0, 0);
        for (&i, t) in &touched {
            let contact = &mut self.model[i];
            if t.deleted {
                contact.deleted = true;
                expected_deletes += 1;
            } else if t.edited[0] && t.edited[1] && self.config.rule == ConflictRule::Manual {
                contact.parked = Some(Parked {
                    base: contact.sides[0].clone(),
                });
                contact.sides = t.sides.clone();
            } else {
                let winner = if t.edited[0] && t.edited[1] {
                    t.last
                } else if t.edited[0] {
                    0
                } else {
                    1
                };
                contact.sides = [t.sides[winner].clone(), t.sides[winner].clone()];
                expected_writes += 1;
            }
        }

        // The portals misbehave from here on: a fresh seed per round and portal.
        let half = self.config.fault_ratio / 2.0;
        for (n, p) in self.portals.iter().enumerate() {
            p.hub.faults.configure(FaultConfig {
                seed: self.config.seed + 100 * n as u64 + round as u64,
                server_error_ratio: half,
                rate_limit_ratio: half,
                retry_after_secs: 0,
                timeout_mode: TimeoutMode::NotProcessed,
                ..FaultConfig::default()
            });
        }
        // 1. The people's changes, by webhook (some lost), then what those runs wrote.
        let t = Instant::now();
        let full = self.config.full_every_round || round + 1 == self.config.rounds;
        let counts = self.deliver_changes(false, full).await;
        self.tally(&counts);
        self.phase("webhooks: people's changes", t);
        let t = Instant::now();
        let counts = self.deliver_changes(true, false).await;
        self.phase("webhooks: our own changes", t);
        assert_eq!(
            counts.written, 0,
            "round {round}: the deliveries of our own writes wrote nothing: {counts:?}"
        );
        self.tally(&counts);
        // 2. The scheduled runs: incremental both ways, then a full reconciliation each way;
        // after each, the deliveries of what they wrote.
        let runs = [
            (0, None),
            (1, None),
            (0, Some(SyncMode::Full)),
            (1, Some(SyncMode::Full)),
        ];
        for (flow, mode) in runs.into_iter().take(if full { 4 } else { 2 }) {
            let t = Instant::now();
            let (job, retries) = self.run_job(flow, mode).await;
            self.phase(
                if mode.is_some() {
                    "full runs"
                } else {
                    "incremental runs"
                },
                t,
            );
            self.report.job_retries += retries as u64;
            let c = &job.counts;
            assert_eq!(c.failed, 0, "round {round}: no record failed: {c:?}");
            self.report.echoes_dropped += c.echoes;
            self.report.conflicts_yielded += c.conflicts_yielded;
            let t = Instant::now();
            let counts = self.deliver_changes(true, false).await;
            self.phase("webhooks: our own changes", t);
            assert_eq!(
                counts.written, 0,
                "round {round}: the deliveries of our own writes wrote nothing: {counts:?}"
            );
            self.tally(&counts);
        }
        for p in &self.portals {
            p.hub.faults.disable();
        }
        self.check(round);
        self.report.converge.push(last_edit.elapsed());

        let (writes, deletes) = self.engine_writes();
        let (writes, deletes) = (writes - writes_before, deletes - deletes_before);
        self.report.writes += writes;
        self.report.deletes += deletes;
        self.report.expected_writes += expected_writes;
        self.report.expected_deletes += expected_deletes;
        assert_eq!(
            (writes, deletes),
            (expected_writes, expected_deletes),
            "round {round}: one write per contact changed on one side (or both, under newest-wins), \
             one delete per contact deleted, no echo"
        );
    }

    fn phase(&mut self, name: &'static str, since: Instant) {
        *self.report.phases.entry(name).or_default() += since.elapsed();
    }

    /// Adds an event's counts to the report.
    fn tally(&mut self, counts: &PageCounts) {
        assert!(counts.failures.is_empty(), "no record failed: {:?}", counts.failures);
        self.report.echoes_dropped += counts.echoes;
        self.report.conflicts_yielded += counts.conflicts_yielded;
    }

    /// Records written to both portals other than by the people (the seed, the engine), and
    /// contacts deleted other than by the people (the engine's DELETEs answered 204): the
    /// rounds count the difference.
    fn engine_writes(&self) -> (u64, u64) {
        let mut writes = 0;
        let mut deletes = 0;
        for p in &self.portals {
            writes += p.hub.writes() - p.person_edits;
            deletes += p
                .hub
                .requests
                .count_where(|r| r.method == "DELETE" && r.status == Some(204)) as u64
                - p.person_deletes;
        }
        (writes, deletes)
    }

    /// Both portals hold what the model says, each contact once.
    fn check(&mut self, round: usize) {
        let live = self.model.iter().filter(|c| !c.deleted).count();
        for (side, p) in self.portals.iter().enumerate() {
            let name = ["A", "B"][side];
            let contacts = p.hub.objects(ObjectType::Contacts);
            let emails: BTreeSet<String> = contacts
                .iter()
                .filter_map(|c| c.get("email").map(str::to_owned))
                .collect();
            let duplicates = contacts.len() - emails.len();
            self.report.duplicates += duplicates as u64;
            assert_eq!(duplicates, 0, "round {round}: no contact twice in {name}");
            assert_eq!(contacts.len(), live, "round {round}: live contacts in {name}");
            for (i, c) in self.model.iter().enumerate() {
                let held = p.hub.find(ObjectType::Contacts, "email", &email(i));
                if c.deleted {
                    assert!(held.is_none(), "round {round}: contact {i} deleted in {name}");
                    continue;
                }
                let held = held.unwrap_or_else(|| panic!("round {round}: contact {i} exists in {name}"));
                let want = &c.sides[side];
                assert_eq!(
                    (held.get("firstname"), held.get("lastname")),
                    (Some(want[0].as_str()), Some(want[1].as_str())),
                    "round {round}: contact {i} in {name}"
                );
            }
        }
    }

    /// Checks the review queue under `manual`: exactly the contacts edited on both sides, each
    /// with A's version, B's version and the base they diverged from. The number parked.
    pub async fn check_reviews(&mut self) -> u64 {
        let (first, second) = switchyard::store::reviews::link_key(&self.flows[0].id, &self.flows[1].id);
        assert_eq!(first, self.flows[0].id, "A -> B is the link's first flow");
        let items = self.deps.reviews.list(&first, &second).await.expect("reviews list");
        let by_record: BTreeMap<String, _> = items.into_iter().map(|r| (r.record.clone(), r)).collect();
        let mut parked = 0;
        for (i, c) in self.model.iter().enumerate() {
            let Some(p) = &c.parked else { continue };
            parked += 1;
            let a = self.portals[0]
                .hub
                .find(ObjectType::Contacts, "email", &email(i))
                .expect("a parked contact exists in A");
            let item = by_record
                .get(&a.id)
                .unwrap_or_else(|| panic!("contact {i} (A's {}) is in the review queue", a.id));
            let names = |v: &Value| {
                [
                    v["properties"]["firstname"].as_str().map(str::to_owned),
                    v["properties"]["lastname"].as_str().map(str::to_owned),
                ]
            };
            let some = |s: &[String; 2]| [Some(s[0].clone()), Some(s[1].clone())];
            assert_eq!(
                names(&item.first_version),
                some(&c.sides[0]),
                "contact {i}: A's version"
            );
            assert_eq!(
                names(&item.second_version),
                some(&c.sides[1]),
                "contact {i}: B's version"
            );
            assert_eq!(
                item.base.as_ref().map(names),
                Some(some(&p.base)),
                "contact {i}: the base both sides diverged from"
            );
        }
        assert_eq!(
            by_record.len(),
            parked,
            "nothing else is parked: {:?}",
            by_record.keys()
        );
        self.report.conflicts_parked = parked as u64;
        parked as u64
    }

    /// A person changes one field of contact `i` on `side`, through the portal's API.
    async fn edit(&mut self, side: usize, i: usize, field: usize, value: &str) {
        let p = &mut self.portals[side];
        let id = p
            .hub
            .find(ObjectType::Contacts, "email", &email(i))
            .unwrap_or_else(|| panic!("contact {i} exists"))
            .id;
        let status = self
            .http
            .patch(format!("{}/crm/v3/objects/contacts/{id}", p.hub.base_url))
            .bearer_auth(PERSON_TOKEN)
            .json(&json!({"properties": {FIELDS[field]: value}}))
            .send()
            .await
            .expect("the portal answers")
            .status();
        assert!(status.is_success(), "a person's edit: {status}");
        p.person_edits += 1;
    }

    /// A person deletes contact `i` on `side` (HubSpot archives it).
    async fn delete(&mut self, side: usize, i: usize) {
        let p = &mut self.portals[side];
        let id = p
            .hub
            .find(ObjectType::Contacts, "email", &email(i))
            .unwrap_or_else(|| panic!("contact {i} exists"))
            .id;
        let status = self
            .http
            .delete(format!("{}/crm/v3/objects/contacts/{id}", p.hub.base_url))
            .bearer_auth(PERSON_TOKEN)
            .send()
            .await
            .expect("the portal answers")
            .status();
        assert_eq!(status.as_u16(), 204, "a person's delete");
        p.person_deletes += 1;
    }

    /// Each portal's webhook deliveries for what changed since the last ones (HubSpot's v3
    /// events: one `contact.propertyChange` per changed property, a `contact.deletion` per
    /// deleted contact), signed, through the receiver; then every queued event run as
    /// connector-sync runs it. `ours`: the changes are the engine's own (every delivery is
    /// kept, and its run is measured); else one in five is lost. The counts summed.
    async fn deliver_changes(&mut self, ours: bool, lose_deletes: bool) -> PageCounts {
        let db_before = self.env.counter.service_total("DynamoDB") as u64;
        let sqs_before = self.env.counter.service_total("SQS") as u64;
        let mut delivered = 0;
        for side in 0..2 {
            let now = live(&self.portals[side].hub);
            let mut events = Vec::new();
            for (id, c) in &now {
                let before = self.portals[side].seen.get(id).cloned();
                for field in FIELDS {
                    if before.as_ref().and_then(|b| b.get(field)) != c.get(field) {
                        events.push(self.event("contact.propertyChange", side, id, Some((field, c.get(field)))));
                    }
                }
            }
            let gone: Vec<String> = self.portals[side]
                .seen
                .keys()
                .filter(|id| !now.contains_key(*id))
                .cloned()
                .collect();
            for id in gone {
                events.push(self.event("contact.deletion", side, &id, None));
            }
            self.portals[side].seen = now;
            let mut kept = Vec::new();
            for e in events {
                let lost = !ours
                    && (lose_deletes || e["subscriptionType"] != "contact.deletion")
                    && (self.next(1000) as f64) < self.config.lost_ratio * 1000.0;
                if lost {
                    self.report.events_lost += 1;
                } else {
                    kept.push(e);
                }
            }
            // HubSpot batches up to 100 events per request; 10 here.
            for batch in kept.chunks(10) {
                let body = serde_json::to_vec(&Value::Array(batch.to_vec())).expect("JSON");
                let status = self.post(&self.portals[side].connection.clone(), &body).await;
                assert_eq!(status, 200, "the receiver accepts the portal's delivery");
                delivered += batch.len() as u64;
            }
        }
        self.report.events_delivered += delivered;
        self.report.receiver_dynamodb += self.env.counter.service_total("DynamoDB") as u64 - db_before;
        self.report.receiver_sqs += self.env.counter.service_total("SQS") as u64 - sqs_before;
        let db_before = self.env.counter.service_total("DynamoDB") as u64;
        let cpu_before = cpu_time();
        let (counts, events) = self.run_queued().await;
        if ours {
            self.report.echo_events += events;
            self.report.echo_cpu += cpu_time().saturating_sub(cpu_before);
            // The queue's own receives and deletes are SQS, not counted here.
            self.report.echo_dynamodb += self.env.counter.service_total("DynamoDB") as u64 - db_before;
        }
        counts
    }

    fn event(&mut self, kind: &str, side: usize, id: &str, change: Option<(&str, Option<&str>)>) -> Value {
        self.next_event += 1;
        let mut event = json!({
            "eventId": self.next_event, "subscriptionId": 7, "portalId": self.portals[side].portal_id,
            "appId": 1_160_452, "occurredAt": SystemClock.now_unix() * 1000,
            "subscriptionType": kind, "attemptNumber": 0,
            "objectId": id.parse::<u64>().expect("HubSpot ids are numbers"), "changeFlag": "UPDATED",
        });
        if let Some((name, value)) = change {
            event["propertyName"] = json!(name);
            event["propertyValue"] = json!(value.unwrap_or_default());
        }
        if kind == "contact.deletion" {
            event["changeFlag"] = json!("DELETED");
        }
        event
    }

    /// Posts a signed delivery to `/hooks/{connection}` through the receiver; its status.
    async fn post(&self, connection: &str, body: &[u8]) -> i64 {
        let url = format!("https://localhost/hooks/{connection}");
        let signed = switchyard::webhook::sign(
            &self.scheme,
            &switchyard::webhook::SignInput {
                method: "POST",
                url: &url,
                body,
                secret: &SecretString::from(APP_SECRET.to_string()),
                now: SystemClock.now_unix(),
                message_id: None,
            },
        )
        .expect("HubSpot deliveries can be signed");
        let mut headers: serde_json::Map<String, Value> = signed
            .into_iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), json!(v)))
            .collect();
        headers.insert("content-type".into(), json!("application/json"));
        let path = format!("/hooks/{connection}");
        let event: aws_lambda_events::apigw::ApiGatewayV2httpRequest = serde_json::from_value(json!({
            "version": "2.0", "rawPath": path, "rawQueryString": "",
            "headers": headers,
            "pathParameters": {"connection_id": connection},
            "requestContext": {"domainName": "localhost", "requestId": "r1", "timeEpoch": 0,
                "http": {"method": "POST", "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "hubspot"}},
            "body": String::from_utf8(body.to_vec()).expect("JSON is UTF-8"), "isBase64Encoded": false
        }))
        .expect("an API Gateway request");
        handle(&self.receiver, event).await.status_code
    }

    /// Runs every queued event as connector-sync does; one that fails in a way worth retrying
    /// is run again (next attempt) after the wait the failure asks for, as the retry path
    /// would send it back to the queue. The counts summed, and the events run.
    async fn run_queued(&mut self) -> (PageCounts, u64) {
        let mut total = PageCounts::default();
        let mut pending = Vec::new();
        for message in self.env.drain_queue().await {
            let envelope: Envelope = serde_json::from_value(message).expect("a sync message");
            let SyncMessage::InboundEvent(event) = envelope.message else {
                panic!("only inbound events are queued here")
            };
            pending.push(event);
        }
        let events = pending.len() as u64;
        while !pending.is_empty() {
            let mut again = Vec::new();
            let mut wait = Duration::ZERO;
            for mut event in pending {
                match sync::run_inbound_event(&self.deps, &event).await {
                    Ok(runs) => {
                        for (_, counts) in runs {
                            add(&mut total, counts);
                        }
                    }
                    Err(e) if e.is_retriable() && event.attempt < 20 => {
                        self.report.event_retries += 1;
                        wait = wait.max(retry_wait(&e));
                        event.attempt += 1;
                        again.push(event);
                    }
                    Err(e) => panic!("event {} failed for good: {e}", event.event_id),
                }
            }
            let t = Instant::now();
            tokio::time::sleep(wait).await;
            self.phase("waits before retrying an event", t);
            pending = again;
        }
        (total, events)
    }

    /// Runs flow `n`'s job (`mode`: the flow's own, or a full run) to its end, running it again
    /// from its checkpoint after each retriable failure (as the queue would, after the wait
    /// the failure asks for); the finished job and the retries it took.
    async fn run_job(&mut self, n: usize, mode: Option<SyncMode>) -> (Job, u32) {
        let flow = &self.flows[n].clone();
        let mut retries = 0;
        let job = loop {
            match sync::start_job(&self.deps, flow, "soak", mode, false).await {
                Ok(job) => break job,
                Err(e) if e.is_retriable() && retries < 50 => {
                    retries += 1;
                    tokio::time::sleep(retry_wait(&e)).await;
                }
                Err(e) => panic!("{}: {e}", flow.id),
            }
        };
        let job_ref = SyncJobRef {
            flow_id: flow.id.clone(),
            job_id: job.job_id,
            attempt: 0,
        };
        loop {
            match sync::run_job(&self.deps, &job_ref, &sync::Unlimited, &|_| {}).await {
                Ok(JobOutcome::Finished(job)) => return (job, retries),
                Ok(other) => panic!("job did not finish: {other:?}"),
                Err(e) if e.is_retriable() && retries < 200 => {
                    retries += 1;
                    let t = Instant::now();
                    tokio::time::sleep(retry_wait(&e)).await;
                    self.phase("waits before retrying a job", t);
                }
                Err(e) => panic!("{}: {e}", flow.id),
            }
        }
    }
}

/// What one contact went through this round.
struct Touched {
    sides: [[String; 2]; 2],
    edited: [bool; 2],
    last: usize,
    deleted: bool,
}

fn live(hub: &FakeHandle<Hubspot>) -> BTreeMap<String, CrmObject> {
    hub.objects(ObjectType::Contacts)
        .into_iter()
        .map(|c| (c.id.clone(), c))
        .collect()
}

/// The wait a retriable failure asks for (a rate limit's Retry-After), else none: the soak's
/// retries are immediate, as a zero retry delay scale makes them.
fn retry_wait(e: &SyncError) -> Duration {
    match e {
        SyncError::Connector(c) => c.class.retry_after().unwrap_or_default().min(Duration::from_secs(10)),
        _ => Duration::ZERO,
    }
}

fn add(total: &mut PageCounts, counts: PageCounts) {
    total.read += counts.read;
    total.written += counts.written;
    total.unchanged += counts.unchanged;
    total.echoes += counts.echoes;
    total.conflicts_yielded += counts.conflicts_yielded;
    total.conflicts_parked += counts.conflicts_parked;
    total.deleted += counts.deleted;
    total.failures.extend(counts.failures);
}

/// CPU time used by this process so far (user + system), from /proc.
pub fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks: u64 = fields.get(11).and_then(|u| u.parse().ok()).unwrap_or(0)
        + fields.get(12).and_then(|s| s.parse().ok()).unwrap_or(0);
    Duration::from_millis(ticks * 10)
}
