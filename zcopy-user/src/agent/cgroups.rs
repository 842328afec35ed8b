//! Which cgroups exist (cgroup v2 ids are the inode numbers of their
//! directories in cgroupfs), and the names a user knows a workload by, read
//! off a cgroup's path: its systemd unit, its container id (docker,
//! containerd, CRI-O, podman) and its Kubernetes pod uid.

use std::{collections::BTreeMap, os::unix::fs::MetadataExt as _, path::Path};

/// cgroup v2 id -> path below the mount ("/" for the root).
pub type CgroupPaths = BTreeMap<u64, String>;

/// Every cgroup below `root` (the cgroup2 mount), by id. A directory removed
/// while it is walked is skipped.
pub fn scan(root: &Path) -> std::io::Result<CgroupPaths> {
    let mut paths = CgroupPaths::new();
    paths.insert(std::fs::metadata(root)?.ino(), "/".to_owned());
    let mut pending = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, rel)) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let Ok(kind) = entry.file_type() else { continue };
            if !kind.is_dir() {
                continue;
            }
            let Ok(meta) = entry.metadata() else { continue };
            let path = format!("{rel}/{}", entry.file_name().to_string_lossy());
            paths.insert(meta.ino(), path.clone());
            pending.push((entry.path(), path));
        }
    }
    Ok(paths)
}

/// What a cgroup's series are labelled with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Names {
    pub cgroup: String,
    pub unit: Option<String>,
    pub container_id: Option<String>,
    pub pod_uid: Option<String>,
}

/// systemd's unit suffixes a cgroup directory can carry.
const UNIT_SUFFIXES: [&str; 3] = [".service", ".scope", ".socket"];

/// Prefixes runtimes put before a container id: systemd cgroup driver
/// (`docker-ID.scope`, `cri-containerd-ID.scope`, `crio-ID.scope`,
/// `libpod-ID.scope`) and cgroupfs driver (`/docker/ID`, `/libpod-ID`).
const CONTAINER_PREFIXES: [&str; 5] = ["cri-containerd-", "docker-", "crio-", "libpod-", ""];

impl Names {
    pub fn from_path(path: &str) -> Self {
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        let unit = parts.iter().rev().find(|p| UNIT_SUFFIXES.iter().any(|s| p.ends_with(s))).map(|p| (*p).to_owned());
        let container_id = parts.iter().rev().find_map(|p| container_id(p));
        let pod_uid = parts.iter().rev().find_map(|p| pod_uid(p));
        Self { cgroup: path.to_owned(), unit, container_id, pod_uid }
    }
}

/// A 64-hex-digit container id in one path component, after a runtime's
/// prefix and before `.scope` (or alone, as the cgroupfs driver names it).
fn container_id(part: &str) -> Option<String> {
    let bare = part.strip_suffix(".scope").unwrap_or(part);
    CONTAINER_PREFIXES.iter().find_map(|prefix| {
        let id = bare.strip_prefix(prefix)?;
        (id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit())).then(|| id.to_owned())
    })
}

/// The pod uid in `kubepods-burstable-pod<UID>.slice` (systemd driver, `-`
/// written `_`) or `pod<UID>` (cgroupfs driver).
fn pod_uid(part: &str) -> Option<String> {
    let bare = part.strip_suffix(".slice").unwrap_or(part);
    let start = bare.rfind("pod")?;
    let uid = bare[start + 3..].replace('_', "-");
    let is_uid = uid.len() == 36
        && uid
            .bytes()
            .enumerate()
            .all(|(i, b)| if [8, 13, 18, 23].contains(&i) { b == b'-' } else { b.is_ascii_hexdigit() });
    is_uid.then_some(uid)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "3f2a9c0d5e6b7a8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e";

    #[test]
    fn systemd_units_and_plain_paths() {
        let n = Names::from_path("/system.slice/nginx.service");
        assert_eq!(n.unit.as_deref(), Some("nginx.service"));
        assert_eq!((n.container_id, n.pod_uid), (None, None));
        let user = Names::from_path("/user.slice/user-1000.slice/session-3.scope");
        assert_eq!(user.unit.as_deref(), Some("session-3.scope"));
        assert_eq!(Names::from_path("/").unit, None);
        assert_eq!(Names::from_path("/zcopy-test/worker").unit, None);
    }

    #[test]
    fn container_ids_of_each_runtime() {
        for path in [
            format!("/system.slice/docker-{ID}.scope"),
            format!("/docker/{ID}"),
            format!("/machine.slice/libpod-{ID}.scope"),
            format!(
                "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1b2c3d4e_5f60_4718_9a0b_1c2d3e4f5a6b.slice/cri-containerd-{ID}.scope"
            ),
            format!("/kubepods.slice/kubepods-pod1b2c3d4e_5f60_4718_9a0b_1c2d3e4f5a6b.slice/crio-{ID}.scope"),
        ] {
            assert_eq!(Names::from_path(&path).container_id.as_deref(), Some(ID), "{path}");
        }
        assert_eq!(Names::from_path("/system.slice/docker-abc.scope").container_id, None, "not 64 hex digits");
    }

    #[test]
    fn pod_uids_of_both_drivers() {
        let systemd = format!(
            "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1b2c3d4e_5f60_4718_9a0b_1c2d3e4f5a6b.slice/cri-containerd-{ID}.scope"
        );
        let cgroupfs = format!("/kubepods/burstable/pod1b2c3d4e-5f60-4718-9a0b-1c2d3e4f5a6b/{ID}");
        for path in [systemd, cgroupfs] {
            let n = Names::from_path(&path);
            assert_eq!(n.pod_uid.as_deref(), Some("1b2c3d4e-5f60-4718-9a0b-1c2d3e4f5a6b"), "{path}");
            assert_eq!(n.container_id.as_deref(), Some(ID), "{path}");
        }
        assert_eq!(Names::from_path("/kubepods.slice/kubepods-burstable.slice").pod_uid, None);
    }

    #[test]
    fn the_scan_finds_this_machines_root_and_children() {
        let dir = std::env::temp_dir().join(format!("zcopy-cgroups-test-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("a/b")).unwrap();
        std::fs::write(dir.join("a/cgroup.procs"), "").unwrap();
        let paths = scan(&dir).unwrap();
        let ino = |p: &str| std::fs::metadata(dir.join(p)).unwrap().ino();
        assert_eq!(paths.get(&ino("")).map(String::as_str), Some("/"));
        assert_eq!(paths.get(&ino("a/b")).map(String::as_str), Some("/a/b"));
        assert_eq!(paths.len(), 3, "files are not cgroups: {paths:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
