//! The Edgeway object model and everything every crate agrees on: validation, versions, the
//! storage and wire codecs, and the admin API's request and response types.
#![forbid(unsafe_code)]

pub mod admin;
pub mod cidr;
pub mod codec;
pub mod model;
pub mod path;
pub mod validate;
pub mod version;

pub use model::*;
pub use validate::ValidationError;
pub use version::Version;
