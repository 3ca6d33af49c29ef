//! The engine: node tables, the dispatcher that runs them, the typed result slots tasks
//! read, task errors, run options and the hooks observers plug into. It knows nothing
//! of any front end (see ARCHITECTURE.md).

pub(crate) mod config;
pub(crate) mod dispatch;
pub(crate) mod error;
pub(crate) mod lock;
pub(crate) mod names;
pub(crate) mod observe;
pub(crate) mod options;
pub(crate) mod owner;
pub(crate) mod slot;
pub(crate) mod sync;
pub(crate) mod table;
pub(crate) mod tree;
pub(crate) mod warn;
