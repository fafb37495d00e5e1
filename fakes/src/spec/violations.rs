//! What a check found wrong, and the record a fake keeps of it.

use std::sync::{Mutex, MutexGuard};

use serde::Serialize;
use tracing::warn;

/// Whether the request or the response broke the spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Request,
    Response,
}

/// One departure from the spec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// The operation's id, or `-` when no operation matched.
    pub operation: String,
    pub direction: Direction,
    pub method: String,
    pub path: String,
    /// JSON pointer of the offending value: `/query/limit`, `/body/properties/email`,
    /// `/status`; empty for the request as a whole.
    pub pointer: String,
    pub message: String,
}

impl Violation {
    pub fn new(
        operation: &str,
        direction: Direction,
        method: &str,
        path: &str,
        pointer: &str,
        message: impl Into<String>,
    ) -> Self {
        Self {
            operation: operation.to_owned(),
            direction,
            method: method.to_owned(),
            path: path.to_owned(),
            pointer: pointer.to_owned(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let direction = match self.direction {
            Direction::Request => "request",
            Direction::Response => "response",
        };
        write!(
            f,
            "{direction} {} {} ({}) at {:?}: {}",
            self.method, self.path, self.operation, self.pointer, self.message
        )
    }
}

/// Every violation a fake saw, in order.
#[derive(Debug, Default)]
pub struct ViolationLog {
    entries: Mutex<Vec<Violation>>,
}

impl ViolationLog {
    fn lock(&self) -> MutexGuard<'_, Vec<Violation>> {
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records and logs each violation (one line each).
    pub fn record(&self, fake: &str, violations: Vec<Violation>) {
        if violations.is_empty() {
            return;
        }
        for v in &violations {
            warn!(
                message = "Spec violation.",
                fake,
                operation = %v.operation,
                direction = ?v.direction,
                method = %v.method,
                path = %v.path,
                pointer = %v.pointer,
                error = %v.message,
            );
        }
        self.lock().extend(violations);
    }

    /// A copy of every violation.
    pub fn all(&self) -> Vec<Violation> {
        self.lock().clone()
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets every violation.
    pub fn clear(&self) {
        self.lock().clear();
    }
}
