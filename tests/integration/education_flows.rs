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
