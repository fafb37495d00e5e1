//! The deployment's bounds for mappings, from the environment.

use std::time::Duration;

use super::Bounds;

/// The largest stack bound a deployment may set (each sandbox thread reserves this much
/// address space; only touched pages cost memory).
pub const MAX_STACK: usize = 64 * 1024 * 1024;

/// Bounds for jq mappings, per record. Set per deployment with environment variables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `MAPPING_TIMEOUT_MS` (100): CPU time a mapping may take for one record (wall time is
    /// capped at `WALL_FACTOR` times this; see [`super::Bounds::time`]).
    pub time: Duration,
    /// `MAPPING_MAX_OUTPUT_BYTES` (1048576): size of a mapped record, as JSON.
    pub max_output_bytes: usize,
    /// `MAPPING_MAX_MEMORY_MB` (64): memory a mapping may allocate for one record.
    pub max_memory_bytes: usize,
    /// `MAPPING_MAX_STACK_MB` (16): stack a mapping may use (deep recursion).
    pub max_stack_bytes: usize,
    /// `MAPPING_MAX_NESTING` (64): brackets and blocks nested in a program's text.
    pub max_nesting: usize,
    /// `MAPPING_MAX_PROGRAM_BYTES` (65536): length of a program's text.
    pub max_program_bytes: usize,
    /// `MAPPING_COMPILE_TIMEOUT_MS` (2000): CPU time to compile a program (as above).
    pub compile_time: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            time: Duration::from_millis(100),
            max_output_bytes: 1024 * 1024,
            max_memory_bytes: 64 * 1024 * 1024,
            max_stack_bytes: 16 * 1024 * 1024,
            max_nesting: 64,
            max_program_bytes: 64 * 1024,
            compile_time: Duration::from_millis(2000),
        }
    }
}

/// A limit variable that is not a positive number in range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name} must be a whole number from 1 to {max}, not {value:?}")]
pub struct LimitsError {
    pub name: &'static str,
    pub value: String,
    pub max: u64,
}

impl Limits {
    /// Reads the `MAPPING_*` variables (see the fields); unset ones keep their defaults.
    pub fn from_env() -> Result<Limits, LimitsError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Limits, LimitsError> {
        let d = Limits::default();
        let num = |name: &'static str, default: u64, max: u64| -> Result<u64, LimitsError> {
            match get(name) {
                None => Ok(default),
                Some(v) => match v.trim().parse::<u64>() {
                    Ok(n) if (1..=max).contains(&n) => Ok(n),
                    _ => Err(LimitsError { name, value: v, max }),
                },
            }
        };
        const MB: u64 = 1024 * 1024;
        Ok(Limits {
            time: Duration::from_millis(num("MAPPING_TIMEOUT_MS", d.time.as_millis() as u64, 60_000)?),
            max_output_bytes: num("MAPPING_MAX_OUTPUT_BYTES", d.max_output_bytes as u64, 256 * MB)? as usize,
            max_memory_bytes: (num("MAPPING_MAX_MEMORY_MB", d.max_memory_bytes as u64 / MB, 4096)? * MB) as usize,
            max_stack_bytes: (num(
                "MAPPING_MAX_STACK_MB",
                d.max_stack_bytes as u64 / MB,
                MAX_STACK as u64 / MB,
            )? * MB) as usize,
            max_nesting: num("MAPPING_MAX_NESTING", d.max_nesting as u64, 10_000)? as usize,
            max_program_bytes: num("MAPPING_MAX_PROGRAM_BYTES", d.max_program_bytes as u64, 16 * MB)? as usize,
            compile_time: Duration::from_millis(num(
                "MAPPING_COMPILE_TIMEOUT_MS",
                d.compile_time.as_millis() as u64,
                60_000,
            )?),
        })
    }

    /// The process's limits: the environment's, read once (defaults where a variable is
    /// unset or invalid; functions check [`Limits::from_env`] at start-up to fail fast).
    pub fn global() -> &'static Limits {
        static GLOBAL: std::sync::OnceLock<Limits> = std::sync::OnceLock::new();
        GLOBAL.get_or_init(|| Limits::from_env().unwrap_or_default())
    }

    /// The bounds a mapping runs within, per record.
    pub fn run_bounds(&self) -> Bounds {
        Bounds {
            time: self.time,
            memory: self.max_memory_bytes,
            stack: self.max_stack_bytes,
        }
    }

    /// The bounds compiling a program runs within.
    pub fn compile_bounds(&self) -> Bounds {
        Bounds {
            time: self.compile_time,
            memory: self.max_memory_bytes,
            stack: self.max_stack_bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let l = Limits::from_lookup(|_| None).unwrap();
        assert_eq!(l, Limits::default());
        let l = Limits::from_lookup(|n| (n == "MAPPING_TIMEOUT_MS").then(|| "250".to_string())).unwrap();
        assert_eq!(l.time, Duration::from_millis(250));
        let l = Limits::from_lookup(|n| (n == "MAPPING_MAX_MEMORY_MB").then(|| "8".to_string())).unwrap();
        assert_eq!(l.max_memory_bytes, 8 * 1024 * 1024);
    }

    #[test]
    fn a_bad_value_names_the_variable() {
        for bad in ["0", "-1", "ten", "999999999"] {
            let err = Limits::from_lookup(|n| (n == "MAPPING_TIMEOUT_MS").then(|| bad.to_string())).unwrap_err();
            assert!(err.to_string().starts_with("MAPPING_TIMEOUT_MS must be"), "{err}");
        }
    }
}
