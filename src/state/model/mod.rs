//! The stored records — number configs, numbers, conversations, messages — and their JSON
//! views in the shapes of Bland's docs (§4 of the API reference).

mod batch;
mod conversation;
mod number;
mod plan;
mod registration;
mod row;
mod small;
mod view;

pub use batch::*;
pub use conversation::*;
pub use number::*;
pub use plan::{PlanRefusal, PlanState, DAILY_TEXTS, HOURLY_TEXTS};
pub use registration::{Registration, Registrations, FAILING_EIN};
pub use row::Row;
pub use small::SmallStr;
