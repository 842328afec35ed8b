//! What zcopy needs from the running system: capabilities, mounts, /proc.

pub mod caps;
pub mod machine;
pub mod mounts;
pub mod netdev;
pub mod procfs;
pub mod signals;
