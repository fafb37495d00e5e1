//! Fake Moodle site, web services over the REST protocol (Moodle 4.x): users, courses, manual
//! enrolments, the gradebook's grade items.
//!
//! Moodle publishes no OpenAPI description: each function describes its parameters and its
//! return value in code (`external_function_parameters`, `external_single_structure`,
//! `external_multiple_structure`, `external_value` with a `PARAM_*` type), which the site's
//! "API documentation" page prints. This fake holds those descriptions for the functions it
//! serves, written from Moodle's source and docs.moodle.org ("Web service API functions",
//! "Creating a web service client", "Errors handling in web services"), checks every request
//! and every response against them, and records each departure as a violation. It follows:
//!
//! * `GET` or `POST /webservice/rest/server.php` with `wstoken`, `wsfunction` and
//!   `moodlewsrestformat=json`, in the query or the form body; the function's parameters
//!   form-encoded in PHP's bracket notation (`users[0][username]=ada`), query and body merged
//!   as PHP's `$_GET + $_POST`. `PARAM_INT` must be digits and `PARAM_BOOL` `0` or `1` (Moodle's
//!   `validate_param` refuses `true`); an unknown key is refused ("Unexpected keys (x) detected
//!   in parameter array."), a missing required one too ("Missing required key in single
//!   structure: x"). Such a request is a violation.
//! * Every error is HTTP 200 with `{"exception", "errorcode", "message", "debuginfo"}`: an
//!   unknown token `moodle_exception` / `invalidtoken`; a function the service does not hold
//!   `webservice_access_exception` / `accessexception`; bad parameters
//!   `invalid_parameter_exception` / `invalidparameter` (with `debuginfo` saying why, as a site
//!   with developer debugging does); a missing course or user `dml_missing_record_exception` /
//!   `invalidrecord`; a role the token may not assign `moodle_exception` / `wsusercannotassign`.
//!   Functions with nothing to return answer `null`.
//! * `core_user_get_users` (criteria `key`/`value`; `email` with `%` wildcards, the other keys
//!   exact; an unsupported key is a warning) answers `{"users", "warnings"}` without paging;
//!   `core_user_get_users_by_field` (`id`, `idnumber`, `username`, `email`) a bare array (`[]`
//!   for no match); `core_course_get_courses_by_field` (no field: every course)
//!   `{"courses", "warnings"}`; `core_enrol_get_enrolled_users` (options `limitfrom`,
//!   `limitnumber`, `sortby` `id`) a bare array of users with `roles` and `enrolledcourses`;
//!   `core_webservice_get_site_info` the site and the token's user.
//! * `gradereport_user_get_grade_items` (`courseid`; optional `userid`, `groupid`; Moodle 3.2+,
//!   `gradereport_user\external\user::get_grade_items`) answers `{"usergrades", "warnings"}`:
//!   one entry per student of the course (`courseid`, `courseidnumber`, `userid`,
//!   `userfullname`, `useridnumber`, `maxdepth`) with its `gradeitems` (`id`, `itemname`,
//!   `itemtype`, `itemmodule`, `iteminstance`, `itemnumber`, `idnumber`, `categoryid`,
//!   `outcomeid`, `scaleid`, then the optional grade fields: `graderaw`, `gradedatesubmitted`,
//!   `gradedategraded`, `gradeformatted`, `grademin`, `grademax`, ...), without paging and
//!   without a time filter. An ungraded item has a null `graderaw` and `gradeformatted` "-";
//!   values are `NULL_ALLOWED` (Moodle's default), so a null passes the return check. An unknown
//!   course is `invalidrecord`, an unknown user `invaliduser`.
//! * `core_user_create_users` validates the whole batch before creating any user (Moodle runs
//!   it in one transaction): a username that is taken, not lowercase or repeated, an invalid or
//!   taken email (the site does not allow shared emails), no `password` and no
//!   `createpassword` refuses the whole call. `enrol_manual_enrol_users` likewise: an unknown
//!   course or user, or a role other than the assignable ones (3 editing teacher, 4 teacher,
//!   5 student), refuses the call and nobody is enrolled.
//!
//! Assumed: user and course fields are the subset described in `USER_DESC` and `COURSE_DESC` (Moodle
//! returns more: custom profile fields, preferences, course overview files); the site's front
//! page course (id 1, format `site`) is held too, as Moodle lists it; users 1 (guest) and 2
//! (admin) exist and the guest has no email, so an email search does not find it. The
//! gradebook of [`COURSE`] is seeded as a training provider sets one up: one assignment per
//! unit of competency ([`UNITS`], the unit code as the grade item's ID number) graded on a
//! "Not yet competent, Competent" scale, and the course total, which the fake does not compute
//! (always ungraded); only users enrolled as students are graded users; no groups, no hidden
//! or locked grades, no feedback.

// Function handlers return the exception the fake answers with, built once per refused call:
// boxing it would only add noise to every handler.
#![allow(clippy::result_large_err)]

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Map, Value};

use crate::faults::FaultConfig;
use crate::server::{self, FakeHandle, Spec};
use crate::spec::{Direction, Violation, ViolationLog};
use crate::timestamp::now_ms;

/// The web service token the fake accepts.
pub const TOKEN: &str = "f2a6c1d4b7e0493a8c5d2e1f0a9b8c7d";
/// The course whose enrolments are seeded.
pub const COURSE: u64 = 2;
/// The student role.
pub const STUDENT_ROLE: u64 = 5;
/// The endpoint.
pub const SERVER_PATH: &str = "/webservice/rest/server.php";
/// The token's user (the admin).
pub const ADMIN: u64 = 2;
/// The units of competency [`COURSE`] assesses: one assignment each, the unit code its grade
/// item's ID number.
pub const UNITS: [&str; 3] = ["BSBCRT411", "BSBOPS404", "BSBTWK401"];
/// The competency scale's id; grade 1 is "Not yet competent", 2 "Competent".
pub const COMPETENCY_SCALE: u64 = 3;
/// A user's grade for one grade item.
#[derive(Debug, Clone, Copy)]
struct Grade {
    raw: f64,
    submitted: i64,
    graded: i64,
}

/// How the fake behaves.
#[derive(Debug, Clone, Default)]
pub struct MoodleConfig {
    /// Users seeded beside guest and admin.
    pub users: usize,
    /// Courses seeded beside the front page (the first is [`COURSE`]).
    pub courses: usize,
    /// Seeded users enrolled as students in [`COURSE`] (at most `users`).
    pub enrolled: usize,
    pub faults: FaultConfig,
}

/// The fake site's state.
pub struct Moodle {
    users: Mutex<BTreeMap<u64, Value>>,
    courses: Mutex<BTreeMap<u64, Value>>,
    /// (course, user) -> role.
    enrolments: Mutex<BTreeMap<(u64, u64), u64>>,
    /// Grade item id -> (course, item as the user report answers it, without grade fields).
    grade_items: Mutex<BTreeMap<u64, (u64, Value)>>,
    /// (grade item, user) -> grade.
    grades: Mutex<BTreeMap<(u64, u64), Grade>>,
    next_id: Mutex<u64>,
    base_url: Mutex<String>,
    violations: Arc<ViolationLog>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Starts the fake on a free loopback port.
///
/// # Panics
/// When a loopback port cannot be bound.
pub fn start(config: MoodleConfig) -> FakeHandle<Moodle> {
    server::expect_started("moodle", try_start(config))
}

/// Starts the fake, reporting a bind failure.
pub fn try_start(config: MoodleConfig) -> io::Result<FakeHandle<Moodle>> {
    let violations = Arc::new(ViolationLog::default());
    let state = Arc::new(Moodle {
        users: Mutex::new(BTreeMap::new()),
        courses: Mutex::new(BTreeMap::new()),
        enrolments: Mutex::new(BTreeMap::new()),
        grade_items: Mutex::new(BTreeMap::new()),
        grades: Mutex::new(BTreeMap::new()),
        next_id: Mutex::new(1000),
        base_url: Mutex::new(String::new()),
        violations: violations.clone(),
    });
    state.seed(&config);
    let routes = state.clone();
    let handle = server::spawn(
        Spec {
            name: "moodle",
            port: 0,
            state: state.clone(),
            faults: config.faults,
            check: None,
            violations,
            respond: fault,
        },
        move |_| {
            Router::new()
                .route(SERVER_PATH, get(serve).post(serve))
                .with_state(routes)
        },
    )?;
    *lock(&state.base_url) = handle.base_url.clone();
    Ok(handle)
}

fn now_secs() -> i64 {
    now_ms() / 1000
}

impl Moodle {
    fn seed(&self, config: &MoodleConfig) {
        let now = now_secs();
        let mut users = lock(&self.users);
        users.insert(1, user_json(1, "guest", "Guest user", " ", "", 0));
        users.insert(
            ADMIN,
            user_json(ADMIN, "admin", "Admin", "User", "admin@example.edu.au", now),
        );
        for n in 1..=config.users as u64 {
            let id = 100 + n;
            users.insert(
                id,
                user_json(
                    id,
                    &format!("student{n}"),
                    &format!("Student{n}"),
                    "Learner",
                    &format!("student{n}@example.edu.au"),
                    now - 86_400,
                ),
            );
        }
        drop(users);
        let mut courses = lock(&self.courses);
        courses.insert(1, course_json(1, "Example RTO", "rto", "site", 0, now - 86_400 * 365));
        for n in 1..=config.courses as u64 {
            let id = COURSE + n - 1;
            courses.insert(
                id,
                course_json(
                    id,
                    &format!("BSB{n:05} Unit {n}"),
                    &format!("BSB{n:05}"),
                    "topics",
                    1,
                    now - 86_400 * 30,
                ),
            );
        }
        drop(courses);
        let mut enrolments = lock(&self.enrolments);
        for n in 1..=config.enrolled.min(config.users) as u64 {
            enrolments.insert((COURSE, 100 + n), STUDENT_ROLE);
        }
        drop(enrolments);
        if config.courses > 0 {
            let mut items = lock(&self.grade_items);
            for (n, unit) in UNITS.iter().enumerate() {
                let id = 50 + n as u64;
                items.insert(
                    id,
                    (
                        COURSE,
                        json!({
                            "id": id, "itemname": format!("{unit} assessment"), "itemtype": "mod",
                            "itemmodule": "assign", "iteminstance": 10 + n, "itemnumber": 0,
                            "idnumber": unit, "categoryid": 1, "outcomeid": null,
                            "scaleid": COMPETENCY_SCALE, "locked": false, "cmid": 20 + n,
                            "grademin": 1.0, "grademax": 2.0,
                        }),
                    ),
                );
            }
            items.insert(
                59,
                (
                    COURSE,
                    json!({
                        "id": 59, "itemname": null, "itemtype": "course", "itemmodule": null,
                        "iteminstance": 1, "itemnumber": null, "idnumber": "", "categoryid": null,
                        "outcomeid": null, "scaleid": null, "locked": false,
                        "grademin": 0.0, "grademax": 100.0,
                    }),
                ),
            );
        }
    }

    fn new_id(&self) -> u64 {
        let mut next = lock(&self.next_id);
        *next += 1;
        *next
    }

    /// A user as the user functions answer it.
    pub fn user(&self, id: u64) -> Option<Value> {
        lock(&self.users).get(&id).cloned()
    }

    /// The user with this username.
    pub fn find_user(&self, username: &str) -> Option<Value> {
        lock(&self.users).values().find(|u| u["username"] == username).cloned()
    }

    /// Users held, guest and admin included.
    pub fn user_count(&self) -> usize {
        lock(&self.users).len()
    }

    /// Users with an email (what an email search for `%` finds).
    pub fn users_with_email(&self) -> usize {
        lock(&self.users).values().filter(|u| u["email"] != "").count()
    }

    /// A course as `core_course_get_courses_by_field` answers it.
    pub fn course(&self, id: u64) -> Option<Value> {
        lock(&self.courses).get(&id).cloned()
    }

    /// Courses held, the front page included.
    pub fn course_count(&self) -> usize {
        lock(&self.courses).len()
    }

    /// The role of a user in a course.
    pub fn role_in(&self, course: u64, user: u64) -> Option<u64> {
        lock(&self.enrolments).get(&(course, user)).copied()
    }

    /// Users enrolled in a course.
    pub fn enrolled_count(&self, course: u64) -> usize {
        lock(&self.enrolments).keys().filter(|(c, _)| *c == course).count()
    }

    /// An enrolled user as `core_enrol_get_enrolled_users` answers it.
    pub fn enrolled_user(&self, course: u64, user: u64) -> Option<Value> {
        let role = self.role_in(course, user)?;
        let u = self.user(user)?;
        let enrolled: Vec<Value> = {
            let enrolments = lock(&self.enrolments);
            let courses = lock(&self.courses);
            enrolments
                .keys()
                .filter(|(_, uid)| *uid == user)
                .filter_map(|(cid, _)| courses.get(cid))
                .map(|c| json!({"id": c["id"], "fullname": c["fullname"], "shortname": c["shortname"]}))
                .collect()
        };
        Some(json!({
            "id": u["id"], "username": u["username"], "firstname": u["firstname"],
            "lastname": u["lastname"], "fullname": u["fullname"], "email": u["email"],
            "firstaccess": u["firstaccess"], "lastaccess": u["lastaccess"], "lastcourseaccess": 0,
            "roles": [role_json(role)],
            "enrolledcourses": enrolled,
        }))
    }

    /// Sets a user's ID number as an administrator would (a training provider keeps its student
    /// management system's identifier there).
    pub fn set_idnumber(&self, id: u64, idnumber: &str) -> Option<Value> {
        let mut users = lock(&self.users);
        let user = users.get_mut(&id)?;
        user["idnumber"] = json!(idnumber);
        Some(user.clone())
    }

    /// Grades a student on the assignment whose grade item has this ID number (a unit code), on
    /// the competency scale, as a trainer would: `competent` is grade 2, else 1. Graded now,
    /// submitted three days before. `None` when no such item is in the course or the user is
    /// not a student there.
    pub fn grade(&self, course: u64, user: u64, unit: &str, competent: bool) -> Option<()> {
        if self.role_in(course, user) != Some(STUDENT_ROLE) {
            return None;
        }
        let item = lock(&self.grade_items)
            .iter()
            .find(|(_, (c, i))| *c == course && i["idnumber"] == unit && i["itemtype"] == "mod")
            .map(|(id, _)| *id)?;
        let graded = now_secs();
        lock(&self.grades).insert(
            (item, user),
            Grade {
                raw: if competent { 2.0 } else { 1.0 },
                submitted: graded - 3 * 86_400,
                graded,
            },
        );
        Some(())
    }

    /// Renames a user as an administrator would in the site.
    pub fn rename_user(&self, id: u64, firstname: &str) -> Option<Value> {
        let mut users = lock(&self.users);
        let user = users.get_mut(&id)?;
        user["firstname"] = json!(firstname);
        user["fullname"] = json!(format!("{firstname} {}", user["lastname"].as_str().unwrap_or_default()));
        Some(user.clone())
    }

    /// Renames a course as a teacher would.
    pub fn rename_course(&self, id: u64, fullname: &str) -> Option<Value> {
        let mut courses = lock(&self.courses);
        let course = courses.get_mut(&id)?;
        course["fullname"] = json!(fullname);
        course["displayname"] = json!(fullname);
        course["timemodified"] = json!(now_secs());
        Some(course.clone())
    }

    fn violation(&self, method: &str, direction: Direction, pointer: &str, message: String) {
        self.violations.record(
            "moodle",
            vec![Violation::new("-", direction, method, SERVER_PATH, pointer, message)],
        );
    }
}

fn user_json(id: u64, username: &str, first: &str, last: &str, email: &str, access: i64) -> Value {
    json!({
        "id": id, "username": username, "firstname": first, "lastname": last,
        "fullname": format!("{first} {last}"), "email": email, "idnumber": "", "auth": "manual",
        "suspended": false, "confirmed": true, "lang": "en", "city": "", "country": "AU",
        "timezone": "99", "firstaccess": access, "lastaccess": access,
        "profileimageurl": format!("https://moodle.example.edu.au/theme/image.php/boost/core/1/u/f1?u={id}"),
    })
}

fn course_json(id: u64, fullname: &str, shortname: &str, format: &str, category: u64, at: i64) -> Value {
    json!({
        "id": id, "fullname": fullname, "displayname": fullname, "shortname": shortname,
        "categoryid": category, "summary": "", "summaryformat": 1, "format": format,
        "startdate": at, "enddate": 0, "visible": 1, "idnumber": "",
        "timecreated": at, "timemodified": at,
    })
}

fn role_json(role: u64) -> Value {
    let (name, short) = match role {
        3 => ("Teacher", "editingteacher"),
        4 => ("Non-editing teacher", "teacher"),
        _ => ("Student", "student"),
    };
    json!({"roleid": role, "name": name, "shortname": short, "sortorder": 0})
}

// ---------------------------------------------------------------------------------------------
// Function descriptions (Moodle's external_description, as the API documentation page prints
// them)

/// A `PARAM_*` type.
#[derive(Debug, Clone, Copy)]
enum Param {
    Int,
    Bool,
    Text,
    Float,
}

/// `external_value`, `external_single_structure`, `external_multiple_structure`; the flag is
/// VALUE_REQUIRED.
#[derive(Debug, Clone, Copy)]
enum Desc {
    Value(Param, bool),
    Single(&'static [(&'static str, Desc)], bool),
    Multiple(&'static Desc, bool),
}

impl Desc {
    fn required(&self) -> bool {
        match self {
            Desc::Value(_, r) | Desc::Single(_, r) | Desc::Multiple(_, r) => *r,
        }
    }
}

const REQ_INT: Desc = Desc::Value(Param::Int, true);
const OPT_INT: Desc = Desc::Value(Param::Int, false);
const REQ_TEXT: Desc = Desc::Value(Param::Text, true);
const OPT_TEXT: Desc = Desc::Value(Param::Text, false);
const OPT_BOOL: Desc = Desc::Value(Param::Bool, false);
const OPT_FLOAT: Desc = Desc::Value(Param::Float, false);

/// `user_get_user_details` as `core_user_get_users` returns it (the fields this fake keeps).
const USER_DESC: Desc = Desc::Single(
    &[
        ("id", REQ_INT),
        ("username", OPT_TEXT),
        ("firstname", OPT_TEXT),
        ("lastname", OPT_TEXT),
        ("fullname", REQ_TEXT),
        ("email", OPT_TEXT),
        ("idnumber", OPT_TEXT),
        ("auth", OPT_TEXT),
        ("suspended", OPT_BOOL),
        ("confirmed", OPT_BOOL),
        ("lang", OPT_TEXT),
        ("city", OPT_TEXT),
        ("country", OPT_TEXT),
        ("timezone", OPT_TEXT),
        ("firstaccess", OPT_INT),
        ("lastaccess", OPT_INT),
        ("profileimageurl", OPT_TEXT),
    ],
    true,
);
const COURSE_DESC: Desc = Desc::Single(
    &[
        ("id", REQ_INT),
        ("fullname", REQ_TEXT),
        ("displayname", REQ_TEXT),
        ("shortname", REQ_TEXT),
        ("categoryid", REQ_INT),
        ("summary", REQ_TEXT),
        ("summaryformat", REQ_INT),
        ("format", OPT_TEXT),
        ("startdate", OPT_INT),
        ("enddate", OPT_INT),
        ("visible", OPT_INT),
        ("idnumber", OPT_TEXT),
        ("timecreated", OPT_INT),
        ("timemodified", OPT_INT),
    ],
    true,
);
const WARNINGS: Desc = Desc::Multiple(
    &Desc::Single(
        &[
            ("item", OPT_TEXT),
            ("itemid", OPT_INT),
            ("warningcode", REQ_TEXT),
            ("message", REQ_TEXT),
        ],
        true,
    ),
    false,
);
const ENROLLED_USER: Desc = Desc::Single(
    &[
        ("id", REQ_INT),
        ("username", OPT_TEXT),
        ("firstname", OPT_TEXT),
        ("lastname", OPT_TEXT),
        ("fullname", REQ_TEXT),
        ("email", OPT_TEXT),
        ("firstaccess", OPT_INT),
        ("lastaccess", OPT_INT),
        ("lastcourseaccess", OPT_INT),
        (
            "roles",
            Desc::Multiple(
                &Desc::Single(
                    &[
                        ("roleid", REQ_INT),
                        ("name", REQ_TEXT),
                        ("shortname", REQ_TEXT),
                        ("sortorder", REQ_INT),
                    ],
                    true,
                ),
                false,
            ),
        ),
        (
            "enrolledcourses",
            Desc::Multiple(
                &Desc::Single(
                    &[("id", REQ_INT), ("fullname", REQ_TEXT), ("shortname", REQ_TEXT)],
                    true,
                ),
                false,
            ),
        ),
    ],
    true,
);

/// `get_grade_items_returns()`'s grade item (the fields this fake answers).
const GRADE_ITEM: Desc = Desc::Single(
    &[
        ("id", REQ_INT),
        ("itemname", REQ_TEXT),
        ("itemtype", REQ_TEXT),
        ("itemmodule", REQ_TEXT),
        ("iteminstance", REQ_INT),
        ("itemnumber", REQ_INT),
        ("idnumber", REQ_TEXT),
        ("categoryid", REQ_INT),
        ("outcomeid", REQ_INT),
        ("scaleid", REQ_INT),
        ("locked", OPT_BOOL),
        ("cmid", OPT_INT),
        ("graderaw", OPT_FLOAT),
        ("gradedatesubmitted", OPT_INT),
        ("gradedategraded", OPT_INT),
        ("gradehiddenbydate", OPT_BOOL),
        ("gradeneedsupdate", OPT_BOOL),
        ("gradeishidden", OPT_BOOL),
        ("gradeislocked", OPT_BOOL),
        ("gradeisoverridden", OPT_BOOL),
        ("gradeformatted", OPT_TEXT),
        ("grademin", OPT_FLOAT),
        ("grademax", OPT_FLOAT),
        ("rangeformatted", OPT_TEXT),
        ("feedback", OPT_TEXT),
        ("feedbackformat", OPT_INT),
    ],
    true,
);

/// One function: its parameters and its return value (`None`: returns null).
struct Function {
    name: &'static str,
    params: &'static [(&'static str, Desc)],
    returns: Option<Desc>,
}

const FUNCTIONS: &[Function] = &[
    Function {
        name: "core_webservice_get_site_info",
        params: &[("serviceshortnames", Desc::Multiple(&REQ_TEXT, false))],
        returns: Some(Desc::Single(
            &[
                ("sitename", REQ_TEXT),
                ("username", REQ_TEXT),
                ("firstname", REQ_TEXT),
                ("lastname", REQ_TEXT),
                ("fullname", REQ_TEXT),
                ("lang", REQ_TEXT),
                ("userid", REQ_INT),
                ("siteurl", REQ_TEXT),
                ("userpictureurl", REQ_TEXT),
                (
                    "functions",
                    Desc::Multiple(&Desc::Single(&[("name", REQ_TEXT), ("version", REQ_TEXT)], true), true),
                ),
                ("release", OPT_TEXT),
                ("version", OPT_TEXT),
            ],
            true,
        )),
    },
    Function {
        name: "core_user_get_users",
        params: &[(
            "criteria",
            Desc::Multiple(&Desc::Single(&[("key", REQ_TEXT), ("value", REQ_TEXT)], true), true),
        )],
        returns: Some(Desc::Single(
            &[("users", Desc::Multiple(&USER_DESC, true)), ("warnings", WARNINGS)],
            true,
        )),
    },
    Function {
        name: "core_user_get_users_by_field",
        params: &[("field", REQ_TEXT), ("values", Desc::Multiple(&REQ_TEXT, true))],
        returns: Some(Desc::Multiple(&USER_DESC, true)),
    },
    Function {
        name: "core_course_get_courses_by_field",
        params: &[("field", OPT_TEXT), ("value", OPT_TEXT)],
        returns: Some(Desc::Single(
            &[("courses", Desc::Multiple(&COURSE_DESC, true)), ("warnings", WARNINGS)],
            true,
        )),
    },
    Function {
        name: "core_enrol_get_enrolled_users",
        params: &[
            ("courseid", REQ_INT),
            (
                "options",
                Desc::Multiple(&Desc::Single(&[("name", REQ_TEXT), ("value", REQ_TEXT)], true), false),
            ),
        ],
        returns: Some(Desc::Multiple(&ENROLLED_USER, true)),
    },
    Function {
        name: "gradereport_user_get_grade_items",
        params: &[("courseid", REQ_INT), ("userid", OPT_INT), ("groupid", OPT_INT)],
        returns: Some(Desc::Single(
            &[
                (
                    "usergrades",
                    Desc::Multiple(
                        &Desc::Single(
                            &[
                                ("courseid", REQ_INT),
                                ("courseidnumber", REQ_TEXT),
                                ("userid", REQ_INT),
                                ("userfullname", REQ_TEXT),
                                ("useridnumber", REQ_TEXT),
                                ("maxdepth", REQ_INT),
                                ("gradeitems", Desc::Multiple(&GRADE_ITEM, true)),
                            ],
                            true,
                        ),
                        true,
                    ),
                ),
                ("warnings", WARNINGS),
            ],
            true,
        )),
    },
    Function {
        name: "core_user_create_users",
        params: &[(
            "users",
            Desc::Multiple(
                &Desc::Single(
                    &[
                        ("createpassword", OPT_BOOL),
                        ("username", REQ_TEXT),
                        ("auth", OPT_TEXT),
                        ("password", OPT_TEXT),
                        ("firstname", REQ_TEXT),
                        ("lastname", REQ_TEXT),
                        ("email", REQ_TEXT),
                        ("maildisplay", OPT_INT),
                        ("city", OPT_TEXT),
                        ("country", OPT_TEXT),
                        ("timezone", OPT_TEXT),
                        ("description", OPT_TEXT),
                        ("idnumber", OPT_TEXT),
                        ("lang", OPT_TEXT),
                        ("institution", OPT_TEXT),
                        ("department", OPT_TEXT),
                        ("phone1", OPT_TEXT),
                    ],
                    true,
                ),
                true,
            ),
        )],
        returns: Some(Desc::Multiple(
            &Desc::Single(&[("id", REQ_INT), ("username", REQ_TEXT)], true),
            true,
        )),
    },
    Function {
        name: "enrol_manual_enrol_users",
        params: &[(
            "enrolments",
            Desc::Multiple(
                &Desc::Single(
                    &[
                        ("roleid", REQ_INT),
                        ("userid", REQ_INT),
                        ("courseid", REQ_INT),
                        ("timestart", OPT_INT),
                        ("timeend", OPT_INT),
                        ("suspend", OPT_INT),
                    ],
                    true,
                ),
                true,
            ),
        )],
        returns: None,
    },
];

/// Checks `value` against `desc`; `request` values are form strings, response values JSON.
fn check(desc: &Desc, value: &Value, pointer: &str, request: bool, out: &mut Vec<(String, String)>) {
    match desc {
        Desc::Value(param, _) => {
            let ok = match (param, request) {
                (Param::Int, true) => value.as_str().is_some_and(|s| s.parse::<i64>().is_ok()),
                (Param::Bool, true) => matches!(value.as_str(), Some("0" | "1")),
                (Param::Text, true) => value.is_string(),
                (Param::Float, true) => value.as_str().is_some_and(|s| s.parse::<f64>().is_ok()),
                // A returned value may be null: `external_value` is NULL_ALLOWED unless it says
                // otherwise, and Moodle answers null for an ungraded grade or a missing outcome.
                (_, false) if value.is_null() => true,
                (Param::Int, false) => value.is_i64() || value.is_u64(),
                (Param::Bool, false) => value.is_boolean(),
                (Param::Text, false) => value.is_string(),
                (Param::Float, false) => value.is_number(),
            };
            if !ok {
                out.push((
                    pointer.to_owned(),
                    format!("Invalid parameter value detected: {param:?} expected, got {value}"),
                ));
            }
        }
        Desc::Single(fields, _) => {
            let Some(object) = value.as_object() else {
                out.push((pointer.to_owned(), "Only arrays accepted.".into()));
                return;
            };
            let unexpected: Vec<&str> = object
                .keys()
                .map(String::as_str)
                .filter(|k| !fields.iter().any(|(name, _)| name == k))
                .collect();
            if !unexpected.is_empty() {
                out.push((
                    pointer.to_owned(),
                    format!(
                        "Unexpected keys ({}) detected in parameter array.",
                        unexpected.join(", ")
                    ),
                ));
            }
            for (name, field) in fields.iter() {
                match object.get(*name) {
                    Some(v) => check(field, v, &format!("{pointer}/{name}"), request, out),
                    None if field.required() => out.push((
                        pointer.to_owned(),
                        format!("Missing required key in single structure: {name}"),
                    )),
                    None => {}
                }
            }
        }
        Desc::Multiple(item, _) => {
            let Some(items) = value.as_array() else {
                out.push((pointer.to_owned(), "Only arrays accepted.".into()));
                return;
            };
            for (i, v) in items.iter().enumerate() {
                check(item, v, &format!("{pointer}/{i}"), request, out);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Serving

fn exception(class: &str, code: &str, message: &str, debuginfo: Option<&str>) -> Response {
    let mut body = json!({"exception": class, "errorcode": code, "message": message});
    if let Some(info) = debuginfo {
        body["message"] = json!(format!("{message} ({info})"));
        body["debuginfo"] = json!(info);
    }
    Json(body).into_response()
}

fn invalid_parameter(info: &str) -> Response {
    exception(
        "invalid_parameter_exception",
        "invalidparameter",
        "Invalid parameter value detected",
        Some(info),
    )
}

fn missing_record(table: &str) -> Response {
    exception(
        "dml_missing_record_exception",
        "invalidrecord",
        &format!("Can't find data record in database table {table}."),
        None,
    )
}

fn fault(status: StatusCode) -> Response {
    (
        status,
        Json(json!({"exception": "moodle_exception", "errorcode": "generalexceptionmessage", "message": "Error"})),
    )
        .into_response()
}

/// `/webservice/rest/server.php`.
async fn serve(State(moodle): State<Arc<Moodle>>, method: Method, RawQuery(query): RawQuery, body: Bytes) -> Response {
    let method = method.as_str().to_owned();
    let mut params = match crate::spec::form::parse(query.as_deref().unwrap_or_default()) {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    if let Value::Object(posted) = crate::spec::form::parse(&String::from_utf8_lossy(&body)) {
        params.extend(posted);
    }
    let text = |params: &mut Map<String, Value>, key: &str| match params.remove(key) {
        Some(Value::String(s)) => Some(s),
        _ => None,
    };
    let token = text(&mut params, "wstoken");
    let function = text(&mut params, "wsfunction");
    let format = text(&mut params, "moodlewsrestformat");
    if format.as_deref() != Some("json") {
        moodle.violation(
            &method,
            Direction::Request,
            "/query/moodlewsrestformat",
            "moodlewsrestformat=json is needed for JSON answers (XML otherwise)".into(),
        );
    }
    if token.as_deref() != Some(TOKEN) {
        return exception(
            "moodle_exception",
            "invalidtoken",
            "Invalid token - token not found",
            None,
        );
    }
    let Some(function) = FUNCTIONS.iter().find(|f| Some(f.name) == function.as_deref()) else {
        moodle.violation(
            &method,
            Direction::Request,
            "/query/wsfunction",
            format!("not a function this site's service holds: {function:?}"),
        );
        return exception(
            "webservice_access_exception",
            "accessexception",
            "Access control exception",
            None,
        );
    };
    let mut problems = Vec::new();
    check(
        &Desc::Single(function.params, true),
        &Value::Object(params.clone()),
        "/body",
        true,
        &mut problems,
    );
    if !problems.is_empty() {
        let info = problems.iter().map(|(_, m)| m.as_str()).collect::<Vec<_>>().join("; ");
        for (pointer, message) in problems {
            moodle.violation(
                &method,
                Direction::Request,
                &pointer,
                format!("{}: {message}", function.name),
            );
        }
        return invalid_parameter(&info);
    }
    let answer = match function.name {
        "core_webservice_get_site_info" => Ok(moodle.site_info()),
        "core_user_get_users" => Ok(moodle.get_users(&params)),
        "core_user_get_users_by_field" => moodle.get_users_by_field(&params),
        "core_course_get_courses_by_field" => moodle.get_courses_by_field(&params),
        "core_enrol_get_enrolled_users" => moodle.get_enrolled_users(&params),
        "gradereport_user_get_grade_items" => moodle.get_grade_items(&params),
        "core_user_create_users" => moodle.create_users(&params),
        "enrol_manual_enrol_users" => moodle.enrol_users(&params),
        _ => unreachable!("every function in FUNCTIONS is served"),
    };
    match answer {
        Err(refusal) => refusal,
        Ok(value) => {
            let mut problems = Vec::new();
            match &function.returns {
                Some(desc) => check(desc, &value, "/body", false, &mut problems),
                None if value.is_null() => {}
                None => problems.push(("/body".into(), "the function returns null".into())),
            }
            for (pointer, message) in problems {
                moodle.violation(
                    &method,
                    Direction::Response,
                    &pointer,
                    format!("{}: {message}", function.name),
                );
            }
            Json(value).into_response()
        }
    }
}

fn param_text<'a>(params: &'a Map<String, Value>, key: &str) -> &'a str {
    params.get(key).and_then(Value::as_str).unwrap_or_default()
}

fn int(v: &Value) -> Option<u64> {
    v.as_str().and_then(|s| s.parse().ok())
}

/// SQL `LIKE` with `%` wildcards, case-insensitive (Moodle's `sql_like` default).
fn like(pattern: &str, text: &str) -> bool {
    let pattern = pattern.to_lowercase();
    let text = text.to_lowercase();
    let parts: Vec<&str> = pattern.split('%').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let mut rest = text.as_str();
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            let Some(r) = rest.strip_prefix(part) else { return false };
            rest = r;
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            let Some(at) = rest.find(part) else { return false };
            rest = &rest[at + part.len()..];
        }
    }
    true
}

impl Moodle {
    fn site_info(&self) -> Value {
        let admin = self.user(ADMIN).unwrap_or_default();
        json!({
            "sitename": "Example RTO", "username": admin["username"], "firstname": admin["firstname"],
            "lastname": admin["lastname"], "fullname": admin["fullname"], "lang": "en",
            "userid": ADMIN, "siteurl": *lock(&self.base_url),
            "userpictureurl": admin["profileimageurl"],
            "functions": FUNCTIONS.iter().map(|f| json!({"name": f.name, "version": "2024042200"})).collect::<Vec<_>>(),
            "release": "4.4 (Build: 20240422)", "version": "2024042200",
        })
    }

    fn get_users(&self, params: &Map<String, Value>) -> Value {
        let criteria: Vec<(String, String)> = params["criteria"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| (param_text_v(c, "key"), param_text_v(c, "value")))
            .collect();
        let mut warnings = Vec::new();
        let supported = ["id", "lastname", "firstname", "idnumber", "username", "email", "auth"];
        for (key, _) in &criteria {
            if !supported.contains(&key.as_str()) {
                warnings.push(json!({
                    "item": key, "warningcode": "invalidfieldparameter",
                    "message": format!("The search key '{key}' is not supported, look at the web service documentation"),
                }));
            }
        }
        let users: Vec<Value> = lock(&self.users)
            .values()
            .filter(|u| {
                criteria
                    .iter()
                    .filter(|(k, _)| supported.contains(&k.as_str()))
                    .all(|(k, v)| {
                        let field = match &u[k.as_str()] {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        if k == "email" {
                            !field.is_empty() && like(v, &field)
                        } else {
                            field == *v
                        }
                    })
            })
            .cloned()
            .collect();
        json!({"users": users, "warnings": warnings})
    }

    fn get_users_by_field(&self, params: &Map<String, Value>) -> Result<Value, Response> {
        let field = param_text(params, "field");
        if !["id", "idnumber", "username", "email"].contains(&field) {
            return Err(invalid_parameter(&format!("The field '{field}' is not supported")));
        }
        let values: BTreeSet<String> = params["values"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect();
        Ok(Value::Array(
            lock(&self.users)
                .values()
                .filter(|u| {
                    let held = match &u[field] {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    values.contains(&held)
                })
                .cloned()
                .collect(),
        ))
    }

    fn get_courses_by_field(&self, params: &Map<String, Value>) -> Result<Value, Response> {
        let field = param_text(params, "field");
        let value = param_text(params, "value");
        let courses = lock(&self.courses);
        let found: Vec<Value> = match field {
            "" => courses.values().cloned().collect(),
            "id" | "shortname" | "idnumber" | "category" => courses
                .values()
                .filter(|c| {
                    let key = if field == "category" { "categoryid" } else { field };
                    match &c[key] {
                        Value::String(s) => s == value,
                        other => value.parse::<i64>().ok() == other.as_i64(),
                    }
                })
                .cloned()
                .collect(),
            other => return Err(invalid_parameter(&format!("Invalid field name {other}"))),
        };
        Ok(json!({"courses": found, "warnings": []}))
    }

    fn get_enrolled_users(&self, params: &Map<String, Value>) -> Result<Value, Response> {
        let course = params.get("courseid").and_then(int).unwrap_or_default();
        if !lock(&self.courses).contains_key(&course) {
            return Err(missing_record("course"));
        }
        let mut from = 0usize;
        let mut number = 0usize;
        for option in params.get("options").and_then(Value::as_array).into_iter().flatten() {
            let value = param_text_v(option, "value");
            match param_text_v(option, "name").as_str() {
                "limitfrom" => from = value.parse().unwrap_or(0),
                "limitnumber" => number = value.parse().unwrap_or(0),
                "sortby" if ["id", "firstname", "lastname", "siteorder"].contains(&value.as_str()) => {}
                "sortby" => return Err(invalid_parameter("Invalid sort parameter")),
                "sortdirection" | "onlyactive" | "userfields" | "groupid" | "withcapability" => {}
                other => return Err(invalid_parameter(&format!("Unknown option {other}"))),
            }
        }
        let ids: Vec<u64> = lock(&self.enrolments)
            .keys()
            .filter(|(c, _)| *c == course)
            .map(|(_, u)| *u)
            .collect();
        let take = if number == 0 { usize::MAX } else { number };
        Ok(Value::Array(
            ids.into_iter()
                .skip(from)
                .take(take)
                .filter_map(|u| self.enrolled_user(course, u))
                .collect(),
        ))
    }

    fn get_grade_items(&self, params: &Map<String, Value>) -> Result<Value, Response> {
        let course = params.get("courseid").and_then(int).unwrap_or_default();
        let Some(course_row) = self.course(course) else {
            return Err(missing_record("course"));
        };
        let only = params.get("userid").and_then(int).unwrap_or(0);
        if only != 0 && self.user(only).is_none() {
            return Err(exception("moodle_exception", "invaliduser", "Invalid user", None));
        }
        let students: Vec<u64> = lock(&self.enrolments)
            .iter()
            .filter(|((c, u), role)| *c == course && **role == STUDENT_ROLE && (only == 0 || *u == only))
            .map(|((_, u), _)| *u)
            .collect();
        let items: Vec<(u64, Value)> = lock(&self.grade_items)
            .iter()
            .filter(|(_, (c, _))| *c == course)
            .map(|(id, (_, item))| (*id, item.clone()))
            .collect();
        let grades = lock(&self.grades);
        let usergrades: Vec<Value> = students
            .iter()
            .filter_map(|u| self.user(*u))
            .map(|user| {
                let uid = user["id"].as_u64().unwrap_or_default();
                let gradeitems: Vec<Value> = items
                    .iter()
                    .map(|(id, item)| {
                        let mut out = item.clone();
                        let grade = grades.get(&(*id, uid));
                        out["graderaw"] = grade.map_or(Value::Null, |g| json!(g.raw));
                        out["gradedatesubmitted"] = grade.map_or(Value::Null, |g| json!(g.submitted));
                        out["gradedategraded"] = grade.map_or(Value::Null, |g| json!(g.graded));
                        out["gradeformatted"] = json!(match grade {
                            None => "-",
                            Some(g) if g.raw >= 2.0 => "Competent",
                            Some(_) => "Not yet competent",
                        });
                        out["gradehiddenbydate"] = json!(false);
                        out["gradeneedsupdate"] = json!(false);
                        out["gradeishidden"] = json!(false);
                        out["gradeislocked"] = json!(false);
                        out["gradeisoverridden"] = json!(false);
                        out["rangeformatted"] = json!(if item["scaleid"].is_null() {
                            "0.00&ndash;100.00"
                        } else {
                            "Not yet competent&ndash;Competent"
                        });
                        out["feedback"] = json!("");
                        out["feedbackformat"] = json!(1);
                        out
                    })
                    .collect();
                json!({
                    "courseid": course, "courseidnumber": course_row["idnumber"], "userid": uid,
                    "userfullname": user["fullname"], "useridnumber": user["idnumber"], "maxdepth": 2,
                    "gradeitems": gradeitems,
                })
            })
            .collect();
        Ok(json!({"usergrades": usergrades, "warnings": []}))
    }

    fn create_users(&self, params: &Map<String, Value>) -> Result<Value, Response> {
        let inputs = params["users"].as_array().cloned().unwrap_or_default();
        let mut users = lock(&self.users);
        let mut seen = BTreeSet::new();
        for input in &inputs {
            let username = param_text_v(input, "username");
            let email = param_text_v(input, "email");
            if username != username.to_lowercase() || username.is_empty() {
                return Err(invalid_parameter("The username must be in lower case"));
            }
            if users.values().any(|u| u["username"] == username.as_str()) || !seen.insert(username.clone()) {
                return Err(invalid_parameter(&format!("Username already exists: {username}")));
            }
            let valid_email = email
                .split_once('@')
                .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.') && !domain.starts_with('.'));
            if !valid_email {
                return Err(invalid_parameter(&format!("Email address is invalid: {email}")));
            }
            if users
                .values()
                .any(|u| u["email"].as_str().is_some_and(|e| e.eq_ignore_ascii_case(&email)))
            {
                return Err(invalid_parameter(&format!("Email address already exists: {email}")));
            }
            if input.get("password").is_none() && input.get("createpassword").and_then(Value::as_str) != Some("1") {
                return Err(invalid_parameter(
                    "Invalid password: you must provide a password, or set createpassword.",
                ));
            }
        }
        let mut out = Vec::new();
        for input in &inputs {
            let id = self.new_id();
            let mut user = user_json(
                id,
                &param_text_v(input, "username"),
                &param_text_v(input, "firstname"),
                &param_text_v(input, "lastname"),
                &param_text_v(input, "email"),
                0,
            );
            for field in ["idnumber", "auth", "city", "country", "lang", "timezone"] {
                if let Some(Value::String(v)) = input.get(field) {
                    user[field] = json!(v);
                }
            }
            out.push(json!({"id": id, "username": user["username"]}));
            users.insert(id, user);
        }
        Ok(Value::Array(out))
    }

    fn enrol_users(&self, params: &Map<String, Value>) -> Result<Value, Response> {
        let inputs = params["enrolments"].as_array().cloned().unwrap_or_default();
        let mut wanted = Vec::new();
        {
            let users = lock(&self.users);
            let courses = lock(&self.courses);
            for input in &inputs {
                let (role, user, course) = (
                    input.get("roleid").and_then(int).unwrap_or_default(),
                    input.get("userid").and_then(int).unwrap_or_default(),
                    input.get("courseid").and_then(int).unwrap_or_default(),
                );
                if !courses.contains_key(&course) || course == 1 {
                    return Err(missing_record("course"));
                }
                if ![3, 4, 5].contains(&role) {
                    return Err(exception(
                        "moodle_exception",
                        "wsusercannotassign",
                        &format!(
                            "You don't have the permission to assign this role ({role}) to this user ({user}) in this course({course})."
                        ),
                        None,
                    ));
                }
                if !users.contains_key(&user) {
                    return Err(missing_record("user"));
                }
                wanted.push(((course, user), role));
            }
        }
        lock(&self.enrolments).extend(wanted);
        Ok(Value::Null)
    }
}

fn param_text_v(v: &Value, key: &str) -> String {
    v.get(key).and_then(Value::as_str).unwrap_or_default().to_owned()
}
