//! Exit codes a script can rely on (listed in `edgewayctl --help` and README.md).

use crate::client::{ApiFailure, Unreachable};

pub const ERROR: u8 = 1;
pub const USAGE: u8 = 2;
pub const UNREACHABLE: u8 = 3;
pub const UNAUTHORIZED: u8 = 4;
pub const NOT_FOUND: u8 = 5;
pub const CONFLICT: u8 = 6;
pub const INVALID: u8 = 7;
pub const SERVER: u8 = 8;

/// The exit code for an error: by the server's status when it answered, else by cause.
pub fn code(error: &anyhow::Error) -> u8 {
    if let Some(failure) = error.downcast_ref::<ApiFailure>() {
        return match failure.status.as_u16() {
            401 | 403 => UNAUTHORIZED,
            404 => NOT_FOUND,
            409 => CONFLICT,
            400..=499 => INVALID,
            _ => SERVER,
        };
    }
    if error.downcast_ref::<Unreachable>().is_some() {
        return UNREACHABLE;
    }
    ERROR
}
