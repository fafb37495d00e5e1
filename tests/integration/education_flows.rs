//! Issue 15, flow 1 end to end: a new enrolment in the student management system becomes an LMS
//! user and a course enrolment. aXcelerate (its fake: both token headers, every parameter and
//! form field checked) is the student management system, Canvas (its fake: Instructure's
//! documented shapes, throttle on) the LMS, moto holds the state, through connector-sync's job
//! path.
//!
//! Two flows read the same aXcelerate enrolments: the first creates the Canvas user (login the
//! student's email, SIS id `AX-<CONTACTID>`), the second enrols that user, named by SIS id as
//! Canvas allows (`sis_user_id:AX-<CONTACTID>`), in the Canvas course the mapping pairs with the
//! aXcelerate instance. The first student's email is already a Canvas login: Canvas refuses that
//! user, and so that student's enrolment (no such SIS id); both are recorded as refused alone.
//! After a new enrolment in aXcelerate, the next runs create and enrol that student only (the
//! others are unchanged and skipped). The rig is [`StateRig`]: moto only, no localstripe.

use serde_json::json;
use switchyard::store::flows::SyncMode;
use switchyard_fakes::axcelerate::{self, AxcelerateConfig, API_TOKEN, INSTANCE, WS_TOKEN};
use switchyard_fakes::canvas::{self, CanvasConfig, COURSE, TOKEN};

use crate::sync::StateRig;

#[tokio::test]
async fn new_axcelerate_enrolments_become_canvas_users_enrolled_in_the_paired_course() {
    switchyard_tests::log_capture::known_secret(TOKEN);
    switchyard_tests::log_capture::known_secret(API_TOKEN);
    switchyard_tests::log_capture::known_secret(WS_TOKEN);
    let rig = StateRig::new().await;
    let sms = axcelerate::start(AxcelerateConfig {
        contacts: 5,
        instances: 1,
        enrolled: 3,
        ..AxcelerateConfig::default()
    });
    // Canvas already has one user, whose login is student1@example.edu.au: the email of the
    // first enrolled aXcelerate contact.
    let lms = canvas::start(CanvasConfig {
        users: 1,
        courses: 1,
        ..CanvasConfig::default()
    });
    assert!(lms
        .find_user(sms.contact(100_001).unwrap()["EMAILADDRESS"].as_str().unwrap())
        .is_some());
    rig.connect_with_config(
        "conn_axcelerate",
        "axcelerate",
        json!({"base_url": format!("{}/api", sms.base_url), "instance_id": INSTANCE.to_string()}),
        json!({"api_token": API_TOKEN, "ws_token": WS_TOKEN}),
    )
    .await;
    rig.connect_with_config(
        "conn_canvas",
        "canvas",
        json!({"base_url": lms.base_url, "account_id": "self"}),
        json!({"access_token": TOKEN}),
    )
    .await;
    let users = rig
        .flow(
            "flow_ax_canvas_users",
            ("conn_axcelerate", "enrolments"),
            ("conn_canvas", "users.create"),
            SyncMode::Full,
            r#"{user: {name: "\(.GIVENNAME) \(.SURNAME)", sortable_name: "\(.SURNAME), \(.GIVENNAME)"},
                pseudonym: {unique_id: .EMAIL, sis_user_id: "AX-\(.CONTACTID)"},
                communication_channel: {type: "email", address: .EMAIL}}"#,
        )
        .await;
    // The Canvas course paired with each aXcelerate instance, in the mapping.
    let enrolments = rig
        .flow(
            "flow_ax_canvas_enrolments",
            ("conn_axcelerate", "enrolments"),
            ("conn_canvas", "enrollments.create"),
            SyncMode::Full,
            &format!(
                r#"{{course_id: ({{"{INSTANCE}": {COURSE}}}[.INSTANCEID | tostring]),
                    user_id: "sis_user_id:AX-\(.CONTACTID)", type: "StudentEnrollment"}}"#
            ),
        )
        .await;

    let before = lms.user_count();
    let job = rig.run_flow(&users.id).await;
    assert_eq!((job.counts.written, job.counts.failed), (2, 1), "{job:?}");
    assert_eq!(lms.user_count(), before + 2);
    let job = rig.run_flow(&enrolments.id).await;
    assert_eq!((job.counts.written, job.counts.failed), (2, 1), "{job:?}");

    for contact in [100_002u64, 100_003] {
        let c = sms.contact(contact).unwrap();
        let user = lms
            .find_user(c["EMAILADDRESS"].as_str().unwrap())
            .unwrap_or_else(|| panic!("a Canvas user for contact {contact}"));
        assert_eq!(user["sis_user_id"], format!("AX-{contact}"));
        assert_eq!(user["name"], format!("{} Learner", c["GIVENNAME"].as_str().unwrap()));
        let uid = user["id"].as_u64().unwrap();
        let enrollment = lms.enrollment_of(COURSE, uid).expect("enrolled in the paired course");
        assert_eq!(enrollment["type"], "StudentEnrollment");
        assert_eq!(enrollment["enrollment_state"], "active");
    }

    // A new enrolment in aXcelerate: the next runs create and enrol that student only.
    sms.enrol_as_staff(100_005, INSTANCE);
    let job = rig.run_flow(&users.id).await;
    assert_eq!(job.counts.written, 1, "{job:?}");
    let job = rig.run_flow(&enrolments.id).await;
    assert_eq!(job.counts.written, 1, "{job:?}");
    let user = lms.find_user("student5@example.edu.au").expect("the new student");
    assert!(lms.enrollment_of(COURSE, user["id"].as_u64().unwrap()).is_some());
    assert_eq!(lms.user_count(), before + 3);

    assert!(sms.violations.all().is_empty(), "{:#?}", sms.violations.all());
    assert!(lms.violations.all().is_empty(), "{:#?}", lms.violations.all());
}

/// Issue 15, flow 2 end to end: LMS assessment outcomes become unit outcomes back in the student
/// management system. CloudAssess (its fake: the assumed contract its definition states) holds
/// assessors' marks; only approved ones are read (`status=approved`). Each becomes an eSkilled
/// unit result on the enrolment CloudAssess knows by the SMS's id (`enrolment_external_id`),
/// with the AVETMISS outcome identifier the mapping derives (20 competent, 30 not yet
/// competent) and the approval date as eSkilled's d-m-Y. eSkilled answers a unit outside the
/// enrolment's course with HTTP 200 `{"success": false}`: that outcome alone is refused. A mark
/// approved later is the only write of the next run.
#[tokio::test]
async fn approved_cloudassess_outcomes_become_eskilled_unit_results() {
    use switchyard_fakes::cloudassess::{self, CloudAssessConfig};
    use switchyard_fakes::eskilled::{self, EskilledConfig};
    switchyard_tests::log_capture::known_secret(cloudassess::API_KEY);
    switchyard_tests::log_capture::known_secret(eskilled::LMS_TOKEN);
    let rig = StateRig::new().await;
    // Students 100001..100003 enrolled as 7001..7003.
    let sms = eskilled::start(EskilledConfig {
        students: 3,
        enrolled: 3,
        ..EskilledConfig::default()
    });
    // Learners 1 and 2 (enrolments 7001, 7002) have three approved marks each, the fourth not
    // yet competent; learner 3's (7003) are pending.
    let lms = cloudassess::start(CloudAssessConfig {
        learners: 3,
        approved: 6,
        pending: 3,
        ..CloudAssessConfig::default()
    });
    let learner3 = lms.find_learner("student3@example.edu.au").unwrap()["id"]
        .as_u64()
        .unwrap();
    // An approved mark for a unit outside eSkilled's course for that enrolment.
    lms.record_outcome(learner3, "7003", "BSBWHS211", "competent", "approved");
    rig.connect_with_config(
        "conn_cloudassess",
        "cloudassess",
        json!({"base_url": format!("{}/api/v1", lms.base_url)}),
        json!({"api_key": cloudassess::API_KEY}),
    )
    .await;
    rig.connect_with_config(
        "conn_eskilled",
        "eskilled",
        json!({"base_url": format!("{}/api", sms.base_url), "sub_domain": eskilled::SUB_DOMAIN}),
        json!({"username": eskilled::USERNAME, "lms_token": eskilled::LMS_TOKEN}),
    )
    .await;
    let outcomes = rig
        .flow(
            "flow_cloudassess_eskilled_results",
            ("conn_cloudassess", "unit_outcomes"),
            ("conn_eskilled", "unit_results.create"),
            SyncMode::Full,
            r#"{enrolmentID: (.enrolment_external_id | tonumber), unitCode: .unit_code,
                outcomeCode: {"competent": "20", "not_yet_competent": "30",
                              "recognition_of_prior_learning": "51", "credit_transfer": "60"}[.result],
                dateAchieved: (.approved_at | split("-") | "\(.[2])-\(.[1])-\(.[0])")}"#,
        )
        .await;

    let job = rig.run_flow(&outcomes.id).await;
    assert_eq!((job.counts.written, job.counts.failed), (6, 1), "{job:?}");
    let first: Vec<(String, String)> = sms
        .results_of(7001)
        .iter()
        .map(|r| {
            (
                r["unitCode"].as_str().unwrap().into(),
                r["outcomeCode"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        first,
        [
            ("HLTAID009".to_owned(), "20".to_owned()),
            ("HLTAID010".into(), "20".into()),
            ("HLTAID011".into(), "20".into())
        ]
    );
    let second = sms.results_of(7002);
    assert_eq!(second.len(), 3);
    assert_eq!(second[0]["outcomeCode"], "30", "the fourth mark: not yet competent");
    assert_eq!(second[0]["dateAchieved"], "05-12-2026");
    assert!(sms.results_of(7003).is_empty(), "pending marks are not brought over");

    // An assessor's pending mark is approved: the next run writes that one only.
    let pending = lms.find_pending(learner3).expect("learner 3 has pending marks");
    lms.approve(pending).unwrap();
    let job = rig.run_flow(&outcomes.id).await;
    assert_eq!(job.counts.written, 1, "{job:?}");
    let third = sms.results_of(7003);
    assert_eq!(third.len(), 1);
    assert_eq!(third[0]["dateAchieved"], "06-12-2026");

    assert!(sms.violations.all().is_empty(), "{:#?}", sms.violations.all());
    assert!(lms.violations.all().is_empty(), "{:#?}", lms.violations.all());
}

/// Issue 15, flow 3 end to end: an enrolment becomes an invoice in the accounting system, and
/// its payment marks the enrolment paid. eSkilled is the student management system, QuickBooks
/// Online (its fake: traffic checked against the QuickBooks spec) the books.
///
/// A chain of three flows. Students become QuickBooks customers; each enrolment becomes an
/// invoice (`DocNumber` `ESK-<enrolmentID>`) for the customer the first flow created for its
/// student, read through the flow's lookup as `$links.customer`; a payment the bookkeeper
/// records against that invoice, quoting its number, becomes an eSkilled payment, and the
/// enrolment is paid once its payments reach the fee. Invoicing before the customers exist
/// refuses those enrolments alone (QuickBooks: no such customer), and the next run invoices
/// them.
#[tokio::test]
async fn eskilled_enrolments_are_invoiced_in_quickbooks_and_payments_mark_them_paid() {
    use switchyard::store::flows::LinkLookup;
    use switchyard_fakes::eskilled::{self, EskilledConfig, FEE};
    use switchyard_fakes::quickbooks::{self, QuickBooksConfig, CLIENT_ID, CLIENT_SECRET, REALM_ID, REFRESH_TOKEN};
    switchyard_tests::log_capture::known_secret(eskilled::LMS_TOKEN);
    switchyard_tests::log_capture::known_secret(CLIENT_SECRET);
    let rig = StateRig::new().await;
    let sms = eskilled::start(EskilledConfig {
        students: 3,
        enrolled: 2,
        ..EskilledConfig::default()
    });
    // One seeded item (the course fee's service), customer, invoice and payment.
    let qbo = quickbooks::start(QuickBooksConfig {
        records: 1,
        ..QuickBooksConfig::default()
    });
    let item = qbo.find("Item", "/Name", "Service 1").unwrap()["Id"]
        .as_str()
        .unwrap()
        .to_owned();
    rig.connect_with_config(
        "conn_eskilled",
        "eskilled",
        json!({"base_url": format!("{}/api", sms.base_url), "sub_domain": eskilled::SUB_DOMAIN}),
        json!({"username": eskilled::USERNAME, "lms_token": eskilled::LMS_TOKEN}),
    )
    .await;
    rig.connect_with_config(
        "conn_qbo",
        "quickbooks",
        json!({"base_url": qbo.api.base_url, "realm_id": REALM_ID, "oauth_url": qbo.oauth.base_url}),
        json!({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "refresh_token": REFRESH_TOKEN}),
    )
    .await;
    let customers = rig
        .flow(
            "flow_esk_qbo_customers",
            ("conn_eskilled", "students"),
            ("conn_qbo", "customers.create_or_update"),
            SyncMode::Full,
            r#"{DisplayName: "\(.studentName) \(.studentSurname) (\(.studentID))",
                GivenName: .studentName, FamilyName: .studentSurname,
                PrimaryEmailAddr: {Address: .studentEmail}}"#,
        )
        .await;
    let invoices = rig
        .chained_flow(
            "flow_esk_qbo_invoices",
            ("conn_eskilled", "enrolments"),
            ("conn_qbo", "invoices.create_or_update"),
            SyncMode::Full,
            &format!(
                r#"{{CustomerRef: {{value: ($links.customer // "")}}, DocNumber: "ESK-\(.enrolmentID)",
                    Line: [{{Amount: .fee, DetailType: "SalesItemLineDetail",
                            SalesItemLineDetail: {{ItemRef: {{value: "{item}"}}, Qty: 1, UnitPrice: .fee}}}}]}}"#
            ),
            vec![LinkLookup {
                name: "customer".into(),
                flow: customers.id.clone(),
                key: "/studentID".into(),
            }],
        )
        .await;
    let payments = rig
        .flow(
            "flow_qbo_esk_payments",
            ("conn_qbo", "payments"),
            ("conn_eskilled", "payments.create"),
            SyncMode::Full,
            r#"{enrolmentID: (.PaymentRefNum | ltrimstr("ESK-") | tonumber), amount: .TotalAmt,
                paymentDate: (.TxnDate | split("-") | "\(.[2])-\(.[1])-\(.[0])"),
                reference: "QuickBooks payment \(.Id)"}"#,
        )
        .await;

    // Invoicing first: no customer yet for either student, so QuickBooks refuses both.
    let before = qbo.count("Invoice");
    let job = rig.run_flow(&invoices.id).await;
    assert_eq!((job.counts.written, job.counts.failed), (0, 2), "{job:?}");
    assert_eq!(qbo.count("Invoice"), before);

    let job = rig.run_flow(&customers.id).await;
    assert_eq!(job.counts.written, 3, "{job:?}");
    let job = rig.run_flow(&invoices.id).await;
    assert_eq!((job.counts.written, job.counts.failed), (2, 0), "{job:?}");
    let mut invoice_of = std::collections::HashMap::new();
    for (enrolment, email) in [(7001u64, "student1@example.edu.au"), (7002, "student2@example.edu.au")] {
        let customer = qbo
            .find("Customer", "/PrimaryEmailAddr/Address", email)
            .expect("a customer");
        let invoice = qbo
            .find("Invoice", "/DocNumber", &format!("ESK-{enrolment}"))
            .expect("an invoice");
        assert_eq!(
            invoice["CustomerRef"]["value"], customer["Id"],
            "billed to the student's customer"
        );
        assert_eq!(invoice["TotalAmt"], FEE);
        invoice_of.insert(enrolment, invoice["Id"].as_str().unwrap().to_owned());
    }

    // The bookkeeper records the payments: 7001 in full, 7002 in part.
    qbo.record_payment(&invoice_of[&7001], FEE, "ESK-7001").unwrap();
    qbo.record_payment(&invoice_of[&7002], 100.0, "ESK-7002").unwrap();
    let job = rig.run_flow(&payments.id).await;
    // The seeded payment quotes no enrolment: its mapping fails, alone.
    assert_eq!((job.counts.written, job.counts.failed), (2, 1), "{job:?}");
    let paid = sms.enrolment(7001).unwrap();
    assert_eq!(
        (paid["paid"].as_bool(), paid["amountPaid"].as_f64()),
        (Some(true), Some(FEE))
    );
    let part = sms.enrolment(7002).unwrap();
    assert_eq!(
        (part["paid"].as_bool(), part["amountPaid"].as_f64()),
        (Some(false), Some(100.0))
    );

    assert!(sms.violations.all().is_empty(), "{:#?}", sms.violations.all());
    let qbo_violations = qbo.api.violations.all();
    assert!(qbo_violations.is_empty(), "{qbo_violations:#?}");
}

/// Issue 15, flow 2 from an LMS gradebook: Moodle grades become unit results in VETtrak. The
/// Moodle fake checks every call against the functions' descriptions
/// (`gradereport_user_get_grade_items`: errors in a 200 body, form-encoded parameters); the
/// VETtrak fake parses every SOAP 1.1 envelope, and UpdateResult sets one enrolled unit's result
/// under the token of the ValidateClient login.
///
/// The training provider gives each Moodle assessment the unit code as its ID number, and each
/// student the VETtrak enrolment the course delivers as theirs. A competent grade becomes
/// "Competency achieved/pass", a not yet competent one "Competency not achieved/fail", from the
/// submission to the grading date, unscored. A student whose ID number names no VETtrak
/// enrolment is refused alone (VETtrak answers Status -1 in a 200). Ungraded assessments are not
/// brought over; a regrade and a new grade are the only writes of the next run.
#[tokio::test]
async fn moodle_grades_become_vettrak_unit_results() {
    use switchyard_fakes::moodle::{self, MoodleConfig, COURSE, UNITS};
    use switchyard_fakes::vettrak::{self, VettrakConfig};
    switchyard_tests::log_capture::known_secret(moodle::TOKEN);
    switchyard_tests::log_capture::known_secret(vettrak::PASSWORD);
    let rig = StateRig::new().await;
    // Students 101..104 in the course; enrolments 7001..7003 in VETtrak, each with the three
    // units, not yet started.
    let lms = moodle::start(MoodleConfig {
        users: 4,
        courses: 1,
        enrolled: 4,
        ..MoodleConfig::default()
    });
    let sms = vettrak::start(VettrakConfig {
        clients: 1,
        enrolments: 3,
        ..VettrakConfig::default()
    });
    for (user, enrolment) in [(101, "7001"), (102, "7002"), (103, "7003"), (104, "7999")] {
        lms.set_idnumber(user, enrolment).unwrap();
    }
    for unit in UNITS {
        lms.grade(COURSE, 101, unit, true).unwrap();
    }
    lms.grade(COURSE, 102, UNITS[0], true).unwrap();
    lms.grade(COURSE, 102, UNITS[1], false).unwrap();
    lms.grade(COURSE, 104, UNITS[0], true).unwrap();
    rig.connect_with_config(
        "conn_moodle",
        "moodle",
        json!({"base_url": lms.base_url, "course": COURSE.to_string()}),
        json!({"token": moodle::TOKEN}),
    )
    .await;
    rig.connect_with_config(
        "conn_vettrak",
        "vettrak",
        json!({"base_url": sms.base_url, "staff_code": vettrak::STAFF_CODE, "client_code": vettrak::CLIENT_CODE}),
        json!({"username": vettrak::USERNAME, "password": vettrak::PASSWORD}),
    )
    .await;
    let results = rig
        .flow(
            "flow_moodle_vettrak_results",
            ("conn_moodle", "grades"),
            ("conn_vettrak", "unit_results.update"),
            SyncMode::Full,
            r#"def xsd: strftime("%Y-%m-%dT%H:%M:%S");
               {enrolled_unit: "\(.useridnumber)/\(.idnumber)", enrolment_id: (.useridnumber | tonumber),
                unit_code: .idnumber,
                result_name: {"Competent": "Competency achieved/pass",
                              "Not yet competent": "Competency not achieved/fail"}[.gradeformatted],
                start: ((.gradedatesubmitted // .gradedategraded) | xsd), finish: (.gradedategraded | xsd),
                percentage: -1}"#,
        )
        .await;

    let job = rig.run_flow(&results.id).await;
    assert_eq!((job.counts.written, job.counts.failed), (5, 1), "{job:?}");
    assert_eq!(sms.logins(), 1, "one ValidateClient token served every write");
    for unit in UNITS {
        let held = sms.result_of("7001", unit).unwrap();
        assert_eq!(
            (held["Result_Code"].as_str(), held["Result_Name"].as_str()),
            (Some("20"), Some("Competency achieved/pass")),
            "{unit}"
        );
    }
    assert_eq!(sms.result_of("7002", UNITS[0]).unwrap()["Result_Code"], "20");
    assert_eq!(sms.result_of("7002", UNITS[1]).unwrap()["Result_Code"], "30");
    assert_eq!(
        sms.result_of("7002", UNITS[2]).unwrap()["Result_Code"],
        "",
        "not graded in Moodle"
    );
    assert!(UNITS
        .iter()
        .all(|u| sms.result_of("7003", u).unwrap()["Result_Code"] == ""));
    let finished = sms.result_of("7001", UNITS[0]).unwrap()["Result_Date"].clone();
    assert_eq!(finished.as_str().map(str::len), Some(19), "an xsd:dateTime: {finished}");

    // Nothing changed in Moodle: nothing is written (the refused student is tried again).
    let job = rig.run_flow(&results.id).await;
    assert_eq!((job.counts.written, job.counts.failed), (0, 1), "{job:?}");

    // The trainer regrades 7002's second unit after a resubmission and grades 7003's third.
    lms.grade(COURSE, 102, UNITS[1], true).unwrap();
    lms.grade(COURSE, 103, UNITS[2], true).unwrap();
    let job = rig.run_flow(&results.id).await;
    assert_eq!((job.counts.written, job.counts.failed), (2, 1), "{job:?}");
    assert_eq!(sms.result_of("7002", UNITS[1]).unwrap()["Result_Code"], "20");
    assert_eq!(sms.result_of("7003", UNITS[2]).unwrap()["Result_Code"], "20");
    let history = sms.history();
    assert_eq!(history.len(), 7, "every replaced result kept in VETtrak's unit history");
    assert_eq!(history[5]["Result_Code"], "30", "7002's not yet competent, replaced");

    assert!(lms.violations.all().is_empty(), "{:#?}", lms.violations.all());
    assert!(sms.violations.all().is_empty(), "{:#?}", sms.violations.all());
}
