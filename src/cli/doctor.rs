//! `mcast doctor`: placeholder until the checks land.

use super::output::CliError;
use super::{Common, DoctorArgs};

pub(crate) fn run(_args: &DoctorArgs, _common: &Common) -> Result<bool, CliError> {
    Err(CliError::failure("mcast doctor is not implemented yet"))
}
