//! One module per subcommand.

pub mod crds;
pub mod lab;
pub mod plan;
pub mod run;
pub mod validate;
