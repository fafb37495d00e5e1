//! Local development: the emulator's resources, created from `infra/template.yaml` so the
//! template and what the code runs against cannot drift.

pub mod resources;
