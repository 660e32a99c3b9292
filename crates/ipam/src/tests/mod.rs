//! Behaviour tests: one per semantic point, named after it.

mod families;
mod pools;
mod properties;
mod requests;
mod scale;
mod selection;
mod service_allocation;
mod sharing;
mod stability;
mod stats;
