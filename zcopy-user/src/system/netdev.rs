//! Network devices' kinds, from sysfs.

use std::path::Path;

use crate::model::DeviceKind;

/// IFF_LOOPBACK in include/uapi/linux/if.h.
const IFF_LOOPBACK: u32 = 0x8;

/// What the device called `name` is (loopback, hardware that can DMA, or software).
pub fn device_kind(name: &str) -> DeviceKind {
    kind_in(Path::new("/sys/class/net"), name)
}

fn kind_in(root: &Path, name: &str) -> DeviceKind {
    if name.is_empty() || name.contains('/') || name.starts_with('.') {
        return DeviceKind::Gone;
    }
    let dir = root.join(name);
    let Ok(flags) = std::fs::read_to_string(dir.join("flags")) else {
        return DeviceKind::Gone;
    };
    let flags = u32::from_str_radix(flags.trim().trim_start_matches("0x"), 16).unwrap_or(0);
    if flags & IFF_LOOPBACK != 0 {
        DeviceKind::Loopback
    } else if dir.join("device").exists() {
        DeviceKind::Hardware
    } else {
        DeviceKind::Virtual
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_from_a_sysfs_like_tree() {
        let root = std::env::temp_dir().join(format!("zcopy-netdev-{}", std::process::id()));
        let make = |name: &str, flags: &str, device: bool| {
            let dir = root.join(name);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("flags"), flags).unwrap();
            if device {
                std::fs::create_dir_all(dir.join("device")).unwrap();
            }
        };
        make("lo", "0x9\n", false);
        make("eth0", "0x1003\n", true);
        make("veth0", "0x1003\n", false);
        assert_eq!(kind_in(&root, "lo"), DeviceKind::Loopback);
        assert_eq!(kind_in(&root, "eth0"), DeviceKind::Hardware);
        assert_eq!(kind_in(&root, "veth0"), DeviceKind::Virtual);
        assert_eq!(kind_in(&root, "wg0"), DeviceKind::Gone);
        assert_eq!(kind_in(&root, "../etc"), DeviceKind::Gone);
        std::fs::remove_dir_all(&root).unwrap();
    }
}
