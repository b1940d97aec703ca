//! RFC 5355 scenarios against live RSPLIB: the catalogue (pure data and
//! validation), the runner and its packet capture, the run record, and
//! the generated documentation.

pub mod actor_args;
pub mod capture;
pub mod catalogue;
pub mod defences;
pub mod docs;
pub mod record;
pub mod run;

pub use catalogue::{Catalogue, CatalogueError, Scenario};
pub use record::RunRecord;
pub use run::{run, LabHandle, Progress, RunOptions};
