//! Analysis of measurements: the literature's claims against them.

pub mod advice;
pub mod claims;
pub mod copies;
pub mod path;
pub mod profile;
pub mod summary;
