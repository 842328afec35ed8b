//! The kernel's time by data-path activity: each cpu-clock sample's kernel
//! stack classified by its frames, with one table (`ACTIVITIES`) written
//! once for every kernel from 6.1 to 7.3. The innermost frame that a rule
//! names decides the activity (a copy routine, then the site that called
//! it); frames no rule names (locks, return thunks, interrupts) are passed
//! over; a stack no rule names is "other kernel", its leaf function kept.

use std::collections::BTreeMap;

use crate::{
    model::profile::{Activity, ActivityRow, Profile, Share, Symbols},
    system::kallsyms::KernelSymbols,
};

/// `zcopy trace`'s default frequency: odd, as perf's and bpftrace's habits
/// are, so the samples do not run in lockstep with the kernel's timer ticks.
pub const TRACE_HZ: u64 = 999;
/// `zcopy bench`'s default: a 512 MiB run's side is busy for 0.2-0.6 s, a
/// few hundred to two thousand samples per run at this rate.
pub const BENCH_HZ: u64 = 2999;
/// The most perf allows (kernel.perf_event_max_sample_rate's ceiling).
pub const MAX_HZ: u64 = 100_000;

/// Where a function name exists, for the table's reader.
#[derive(Debug, Clone, Copy)]
pub enum Kernels {
    All,
    /// Up to and including this version.
    Until(&'static str),
    /// From this version on.
    Since(&'static str),
}

/// A function name (or, ending in `*`, a prefix) and the kernels that have it.
#[derive(Debug, Clone, Copy)]
pub struct Name {
    pub name: &'static str,
    pub kernels: Kernels,
}

impl Name {
    fn matches(&self, function: &str) -> bool {
        match self.name.strip_suffix('*') {
            Some(prefix) => function.starts_with(prefix),
            None => function == self.name,
        }
    }
}

const fn all(name: &'static str) -> Name {
    Name { name, kernels: Kernels::All }
}
const fn until(name: &'static str, version: &'static str) -> Name {
    Name { name, kernels: Kernels::Until(version) }
}
const fn since(name: &'static str, version: &'static str) -> Name {
    Name { name, kernels: Kernels::Since(version) }
}

/// What a frame is, when a rule names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A CPU copy routine: to user memory, from it, or either (the asm
    /// routines that both directions call; the caller says which).
    Copy(Option<Direction>),
    /// Any other activity.
    Is(Activity),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    ToUser,
    FromUser,
}

/// One rule: frames with these names are `role`.
pub struct Rule {
    pub role: Role,
    pub names: &'static [Name],
}

/// The activity table, tried in order for each frame (innermost first).
pub const ACTIVITIES: &[Rule] = &[
    Rule {
        role: Role::Copy(Some(Direction::ToUser)),
        names: &[
            all("_copy_to_iter"),
            all("copy_page_to_iter"),
            all("simple_copy_to_iter"),
            all("_copy_to_user"),
            all("copyout"),
            all("copy_to_user_iter*"),
            since("copy_folio_to_iter", "6.x"),
        ],
    },
    Rule {
        role: Role::Copy(Some(Direction::FromUser)),
        names: &[
            all("_copy_from_iter"),
            all("_copy_from_iter_nocache"),
            all("copy_page_from_iter"),
            until("copy_page_from_iter_atomic", "6.1"),
            all("copy_folio_from_iter_atomic"),
            all("_copy_from_user"),
            all("copyin"),
            all("copy_from_user_iter*"),
            all("copy_from_user_iter_nocache"),
        ],
    },
    Rule {
        role: Role::Copy(None),
        names: &[
            since("rep_movs_alternative", "6.4"),
            until("copy_user_enhanced_fast_string", "6.3"),
            until("copy_user_generic_string", "6.3"),
            until("copy_user_generic_unrolled", "6.3"),
            all("copy_user_generic"),
            all("__copy_user_nocache"),
            all("__copy_user_flushcache"),
        ],
    },
    // BPF programs: their own frames, and the kernel's code that runs them.
    Rule {
        role: Role::Is(Activity::BpfPrograms),
        names: &[
            all("bpf_prog_*"),
            all("bpf_trace_run*"),
            all("__bpf_trace_*"),
            all("__bpf_prog_enter*"),
            all("__bpf_prog_exit*"),
            all("bpf_get_stack*"),
            all("__htab_map_lookup_elem"),
            all("htab_map_*"),
            all("bpf_probe_read_kernel*"),
        ],
    },
    Rule {
        role: Role::Is(Activity::PageFaults),
        names: &[
            all("asm_exc_page_fault"),
            all("exc_page_fault"),
            all("do_user_addr_fault"),
            all("handle_mm_fault"),
            all("__handle_mm_fault"),
            all("handle_pte_fault"),
            all("do_fault"),
            all("do_read_fault"),
            all("do_anonymous_page"),
            all("do_wp_page"),
            all("wp_page_copy"),
            all("filemap_fault"),
            all("filemap_map_pages"),
            all("next_uptodate_folio"),
            all("set_pte_range"),
            all("clear_page_erms"),
            all("clear_page_rep"),
            all("clear_page_orig"),
            all("lock_mm_and_find_vma"),
            all("fault_in_readable"),
            all("fault_in_writeable"),
        ],
    },
    Rule {
        role: Role::Is(Activity::MemoryAllocation),
        names: &[
            all("__alloc_skb"),
            all("alloc_skb_with_frags"),
            all("kmalloc_reserve"),
            all("tcp_stream_alloc_skb"),
            all("__kmalloc*"),
            all("kmalloc_*"),
            all("kmem_cache_alloc*"),
            all("kmem_cache_free*"),
            all("___slab_alloc"),
            all("__slab_free"),
            all("kfree"),
            all("kfree_skb*"),
            all("__kfree_skb"),
            all("consume_skb"),
            all("skb_release_data"),
            all("skb_release_head_state"),
            all("__alloc_pages*"),
            since("__alloc_frozen_pages*", "6.15"),
            all("vma_alloc_folio*"),
            all("alloc_pages*"),
            all("__folio_alloc*"),
            all("folio_alloc*"),
            all("get_page_from_freelist"),
            all("rmqueue*"),
            all("__free_pages*"),
            all("free_unref_page*"),
            all("free_unref_folios"),
            all("__folio_put"),
            all("skb_page_frag_refill"),
            all("sk_page_frag_refill"),
            all("page_frag_alloc*"),
            all("__page_frag_alloc*"),
            all("__page_frag_cache_refill"),
        ],
    },
    Rule {
        role: Role::Is(Activity::PageReferenceMoves),
        names: &[
            since("splice_to_socket", "6.5"),
            since("filemap_splice_read", "6.5"),
            until("generic_file_splice_read", "6.4"),
            until("do_tcp_sendpages", "6.4"),
            until("tcp_sendpage", "6.4"),
            since("skb_append_pagefrags", "6.5"),
            all("iter_file_splice_write"),
            all("splice_direct_to_actor"),
            all("do_splice_direct*"),
            all("direct_splice_actor"),
            all("do_splice"),
            all("__splice_from_pipe"),
            all("splice_folio_into_pipe"),
            all("splice_pipe_to_pipe"),
            all("splice_file_to_pipe"),
            all("skb_splice_bits"),
            all("do_sendfile"),
            all("vmsplice_to_pipe"),
            all("iter_to_pipe"),
        ],
    },
    Rule {
        role: Role::Is(Activity::PageCacheReadahead),
        names: &[
            all("page_cache_ra_unbounded"),
            all("page_cache_ra_order"),
            all("page_cache_async_ra"),
            all("page_cache_sync_ra"),
            until("ondemand_readahead", "6.9"),
            all("read_pages"),
            all("do_page_cache_ra"),
            all("force_page_cache_ra"),
        ],
    },
    Rule {
        role: Role::Is(Activity::PageCacheInsertion),
        names: &[
            all("filemap_add_folio"),
            all("__filemap_add_folio"),
            all("folio_add_lru"),
            all("folio_batch_move_lru"),
            all("lru_add*"),
        ],
    },
    Rule {
        role: Role::Is(Activity::PageCacheWriteback),
        names: &[
            all("do_writepages"),
            all("__writeback_single_inode"),
            all("writeback_single_inode"),
            all("balance_dirty_pages*"),
            all("folio_mark_dirty"),
            all("__folio_mark_dirty"),
            all("filemap_dirty_folio"),
        ],
    },
    Rule {
        role: Role::Is(Activity::PageCacheLookup),
        names: &[
            all("filemap_read"),
            all("filemap_get_pages"),
            all("filemap_get_read_batch"),
            all("__filemap_get_folio"),
            all("filemap_get_entry"),
            until("pagecache_get_page", "6.1"),
            all("folio_mark_accessed"),
            all("mark_page_accessed"),
            all("shmem_file_read_iter"),
            all("shmem_get_folio*"),
            all("generic_perform_write"),
            all("shmem_write_begin"),
            all("shmem_write_end"),
            all("generic_write_end"),
            all("ext4_da_write_begin"),
            all("ext4_da_write_end"),
        ],
    },
    Rule { role: Role::Is(Activity::LoopbackTransmit), names: &[all("loopback_xmit")] },
    Rule {
        role: Role::Is(Activity::DeviceTransmit),
        names: &[
            all("dev_hard_start_xmit"),
            all("sch_direct_xmit"),
            all("start_xmit"),
            all("xmit_skb"),
            all("virtnet_*"),
            all("e1000_xmit_frame"),
        ],
    },
    Rule {
        role: Role::Is(Activity::Scheduling),
        names: &[
            all("schedule"),
            all("__schedule"),
            all("schedule_*"),
            all("finish_task_switch"),
            all("pick_next_task*"),
            all("try_to_wake_up"),
            all("__wake_up*"),
            all("wake_up_*"),
            all("ttwu_*"),
            all("enqueue_task*"),
            all("dequeue_task*"),
            all("update_curr"),
            all("update_load_avg"),
            all("psi_*"),
            all("__switch_to*"),
            all("switch_mm*"),
            all("default_wake_function"),
            // The socket's wakeup callbacks: waking the reader or writer.
            all("sock_def_readable"),
            all("sk_stream_write_space"),
            all("sock_def_write_space"),
            all("autoremove_wake_function"),
        ],
    },
    Rule {
        role: Role::Is(Activity::TcpIpStack),
        names: &[
            all("tcp_*"),
            all("__tcp_*"),
            all("ip_*"),
            all("__ip_*"),
            all("ip6_*"),
            all("udp_*"),
            all("__udp*"),
            all("udpv6_*"),
            all("inet_*"),
            all("sk_*"),
            all("__sk_*"),
            all("sock_*"),
            all("__sock_*"),
            all("__sys_sendto"),
            all("__sys_recvfrom"),
            all("__sys_sendmsg"),
            all("__sys_recvmsg"),
            all("skb_*"),
            all("__skb_*"),
            all("net_rx_action"),
            all("__napi_poll"),
            all("process_backlog"),
            all("__netif_receive_skb*"),
            all("netif_receive_skb*"),
            all("__dev_queue_xmit"),
            all("dev_queue_xmit"),
            all("nf_hook_slow"),
            all("unix_*"),
            all("release_sock"),
            all("lock_sock_nested"),
        ],
    },
    Rule {
        role: Role::Is(Activity::SyscallEntryExit),
        names: &[
            all("entry_SYSCALL_64*"),
            all("do_syscall_64"),
            all("syscall_exit_to_user_mode*"),
            all("exit_to_user_mode*"),
            all("syscall_return_via_sysret"),
            all("entry_SYSRETQ*"),
            all("__x64_sys_*"),
            all("__do_sys_*"),
            all("ksys_*"),
            all("vfs_read"),
            all("vfs_write"),
            all("new_sync_read"),
            all("new_sync_write"),
            all("__fdget*"),
            all("fdget*"),
            all("__fget*"),
            all("fput"),
            all("rw_verify_area"),
            all("security_file_permission"),
            all("__fsnotify_parent"),
            all("fsnotify"),
            all("touch_atime"),
            all("atime_needs_update"),
        ],
    },
];

/// Sites: the functions that call a copy routine, by what they copy.
pub const COPY_SITES: &[(Activity, &[Name])] = &[
    (Activity::CopyToUserFileRead, &[all("filemap_read"), all("shmem_file_read_iter"), all("generic_file_read_iter")]),
    (
        Activity::CopyToUserSocketReceive,
        &[
            all("__skb_datagram_iter"),
            all("skb_copy_datagram_iter"),
            all("tcp_recvmsg_locked"),
            all("udp_recvmsg"),
            all("unix_stream_read_generic"),
        ],
    ),
    (Activity::CopyToUserPipe, &[until("pipe_read", "6.14"), since("anon_pipe_read", "6.15")]),
    (
        Activity::CopyFromUserSocketSend,
        &[
            all("tcp_sendmsg_locked"),
            all("skb_do_copy_data_nocache"),
            all("udp_sendmsg"),
            all("ip_generic_getfrag"),
            all("unix_stream_sendmsg"),
        ],
    ),
    (Activity::CopyFromUserFileWrite, &[all("generic_perform_write")]),
    (Activity::CopyFromUserPipe, &[until("pipe_write", "6.14"), since("anon_pipe_write", "6.15")]),
];

/// A function's name without the compiler's suffixes (`.isra.0`, `.cold`, ...).
fn base(function: &str) -> &str {
    function.split('.').next().unwrap_or(function)
}

fn role(function: &str) -> Option<Role> {
    let f = base(function);
    ACTIVITIES.iter().find(|r| r.names.iter().any(|n| n.matches(f))).map(|r| r.role)
}

fn site(function: &str) -> Option<Activity> {
    let f = base(function);
    COPY_SITES.iter().find(|(_, names)| names.iter().any(|n| n.matches(f))).map(|(a, _)| *a)
}

fn copy_of(direction: Option<Direction>, site: Option<Activity>) -> Activity {
    let site_direction = site.map(|a| {
        if matches!(a, Activity::CopyToUserFileRead | Activity::CopyToUserSocketReceive | Activity::CopyToUserPipe) {
            Direction::ToUser
        } else {
            Direction::FromUser
        }
    });
    match (direction.or(site_direction), site) {
        (Some(d), Some(s)) if Some(d) == site_direction => s,
        (Some(Direction::ToUser), _) => Activity::CopyToUserOther,
        (Some(Direction::FromUser), _) => Activity::CopyFromUserOther,
        (None, _) => Activity::CopyOther,
    }
}

/// The activity of a kernel stack (names innermost first; empty: user
/// mode), and its detail: the BPF program, or the leaf of "other kernel".
pub fn classify(frames: &[String]) -> (Activity, Option<String>) {
    let Some(leaf) = frames.first() else {
        return (Activity::UserSpace, None);
    };
    for (i, frame) in frames.iter().enumerate() {
        match role(frame) {
            Some(Role::Copy(direction)) => {
                // The routine's own direction, or the next routine's up the
                // stack (rep_movs_alternative <- _copy_to_iter), and its site.
                let outer = &frames[i + 1..];
                let direction = direction.or_else(|| {
                    outer.iter().take(3).find_map(|f| match role(f) {
                        Some(Role::Copy(d)) => d,
                        _ => None,
                    })
                });
                let site = outer.iter().find_map(|f| site(f));
                return (copy_of(direction, site), None);
            }
            Some(Role::Is(Activity::BpfPrograms)) => {
                let program = frames[i..].iter().find_map(|f| bpf_program(f));
                return (Activity::BpfPrograms, Some(program.unwrap_or_else(|| "running BPF programs".to_owned())));
            }
            Some(Role::Is(activity)) => return (activity, None),
            None => {}
        }
    }
    (Activity::OtherKernel, Some(base(leaf).to_owned()))
}

/// The program of a `bpf_prog_TAG_NAME` frame, marked zcopy's own where it is.
fn bpf_program(frame: &str) -> Option<String> {
    let rest = frame.strip_prefix("bpf_prog_")?;
    let name = rest.split_once('_').map_or(rest, |(_, name)| name);
    // The kernel keeps 15 bytes of a program's name.
    let ours = crate::probes::table::all_programs()
        .any(|p| p.get(..name.len().min(p.len())) == Some(name) && !name.is_empty());
    Some(if ours { format!("zcopy {name}") } else { name.to_owned() })
}

/// The profile of some processes' samples (stacks as the kernel counted them).
pub fn build<'a>(
    stacks: impl IntoIterator<Item = (&'a str, &'a BTreeMap<Vec<u64>, u64>)>,
    hz: u64,
    lost: u64,
    symbols: &Result<KernelSymbols, String>,
) -> Profile {
    let mut tally = Tally::default();
    for (comm, stacks) in stacks {
        for (ips, &count) in stacks {
            let frames = symbols.as_ref().ok().map(|s| s.frames(ips));
            tally.add(comm, ips.len(), frames.as_deref(), count);
        }
    }
    tally.profile(
        hz,
        lost,
        match symbols {
            Ok(_) => Symbols::Kallsyms,
            Err(why) => Symbols::Unavailable(why.clone()),
        },
    )
}

/// Samples added up by activity and by collapsed stack.
#[derive(Default)]
struct Tally {
    by: BTreeMap<(Activity, Option<String>), u64>,
    folded: BTreeMap<String, u64>,
    samples: u64,
    user_samples: u64,
    truncated: u64,
}

impl Tally {
    /// `count` samples of `comm` with a kernel stack of `depth` frames,
    /// named `frames` where names are known.
    fn add(&mut self, comm: &str, depth: usize, frames: Option<&[String]>, count: u64) {
        self.samples += count;
        if depth == 0 {
            self.user_samples += count;
        }
        if depth >= zcopy_common::MAX_STACK_DEPTH {
            self.truncated += count;
        }
        let Some(frames) = frames else { return };
        *self.by.entry(classify(frames)).or_default() += count;
        let mut line = sanitize(comm);
        if frames.is_empty() {
            line.push_str(";[user]");
        }
        for f in frames.iter().rev() {
            line.push(';');
            line.push_str(&sanitize(f));
        }
        *self.folded.entry(line).or_default() += count;
    }

    fn profile(self, hz: u64, lost: u64, symbols: Symbols) -> Profile {
        let ms_per_sample = if hz == 0 { 0.0 } else { 1000.0 / hz as f64 };
        let samples = self.samples;
        let mut activities: Vec<ActivityRow> = self
            .by
            .into_iter()
            .map(|((activity, detail), n)| ActivityRow {
                activity,
                detail,
                share: Share::of(n, samples),
                cpu_ms: n as f64 * ms_per_sample,
            })
            .collect();
        activities.sort_by(|a, b| b.share.samples.cmp(&a.share.samples).then(a.activity.cmp(&b.activity)));
        let mut folded: Vec<(String, u64)> = self.folded.into_iter().collect();
        folded.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        Profile {
            hz,
            samples,
            user_samples: self.user_samples,
            lost,
            truncated: self.truncated,
            symbols,
            activities,
            folded,
        }
    }
}

/// The profile of a `perf script` text (from `perf record -g`): each
/// sample's kernel frames (those of `[kernel.kallsyms]` or a BPF program),
/// classified by the same table. `hz` is the recording's frequency.
pub fn from_perf_script(text: &str, hz: u64, comms: &[String]) -> Profile {
    let mut tally = Tally::default();
    let mut sample: Option<(String, Vec<String>)> = None;
    let finish = |sample: Option<(String, Vec<String>)>, tally: &mut Tally| {
        if let Some((comm, frames)) = sample
            && (comms.is_empty() || comms.contains(&comm))
        {
            tally.add(&comm, frames.len(), Some(&frames), 1);
        }
    };
    for line in text.lines() {
        if line.trim().is_empty() {
            finish(sample.take(), &mut tally);
        } else if line.starts_with(char::is_whitespace) {
            // "\tffffffff81234567 _copy_to_iter+0x57 ([kernel.kallsyms])"
            let mut parts = line.split_whitespace();
            let (_, symbol, dso) = (parts.next(), parts.next(), parts.next().unwrap_or_default());
            let kernel = dso.contains("[kernel.kallsyms]") || dso.contains("[bpf") || dso.contains("bpf_prog");
            if let (Some((_, frames)), Some(symbol), true) = (sample.as_mut(), symbol, kernel) {
                frames.push(symbol.split_once("+0x").map_or(symbol, |(name, _)| name).to_owned());
            }
        } else {
            finish(sample.take(), &mut tally);
            let comm = line.split_whitespace().next().unwrap_or("?").to_owned();
            sample = Some((comm, Vec::new()));
        }
    }
    finish(sample.take(), &mut tally);
    tally.profile(hz, 0, Symbols::Kallsyms)
}

/// Most bytes `zcopy activities` reads: a `perf script` of a long profile
/// is large, but not this large.
const MAX_SCRIPT: u64 = 1 << 30;

/// `zcopy activities`: a perf script's stacks by activity.
pub fn command(args: &crate::cli::ActivitiesArgs) -> anyhow::Result<i32> {
    use anyhow::Context as _;
    use std::io::Read as _;
    let mut text = String::new();
    let what = args.input.display().to_string();
    let read = if what == "-" {
        std::io::stdin().lock().take(MAX_SCRIPT).read_to_string(&mut text)
    } else {
        std::fs::File::open(&args.input)
            .with_context(|| format!("opening {what}: give the output of `perf script`"))?
            .take(MAX_SCRIPT)
            .read_to_string(&mut text)
    };
    read.with_context(|| format!("reading {what}: it must be the text of `perf script` (UTF-8)"))?;
    let profile = from_perf_script(&text, args.hz, &args.comm);
    if profile.samples == 0 {
        anyhow::bail!(
            "{what} has no samples: give the output of `perf script` of a `perf record -g -e cpu-clock` profile"
        );
    }
    if args.json {
        crate::export::write_json(&profile, std::path::Path::new("-"))?;
    } else {
        print!("{}", crate::output::profile::render(&profile));
    }
    Ok(0)
}

/// The profile of every process in `raw` (None where sampling was off or
/// did not attach). Samples lost in the kernel are the two stack drops.
pub fn of_counters(raw: &crate::model::RawCounters, coverage: crate::model::Coverage, hz: u64) -> Option<Profile> {
    if !coverage.samples || hz == 0 {
        return None;
    }
    let lost = ["stack_samples_map_full", "stack_sample_unreadable"].iter().filter_map(|k| raw.drops.get(*k)).sum();
    let symbols = KernelSymbols::read();
    let stacks = raw.processes.values().map(|p| (p.comm.as_deref().unwrap_or("?"), &p.stacks));
    Some(build(stacks, hz, lost, &symbols))
}

/// A name for a collapsed-stack line: no separators, no spaces, no control
/// characters, at most 64 bytes (a process name is the process's to choose).
fn sanitize(name: &str) -> String {
    let clean: String =
        name.chars().map(|c| if c == ';' || c.is_whitespace() || c.is_control() { '_' } else { c }).collect();
    match clean.char_indices().nth(64) {
        Some((cut, _)) => clean[..cut].to_owned(),
        None => clean,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack(frames: &[&str]) -> Vec<String> {
        frames.iter().map(|f| (*f).to_owned()).collect()
    }

    #[test]
    fn copies_are_told_by_routine_and_site() {
        // 6.18 on an FSRM CPU: the copy inlined into _copy_to_iter.
        let read =
            stack(&["_copy_to_iter", "copy_page_to_iter", "filemap_read", "vfs_read", "ksys_read", "do_syscall_64"]);
        assert_eq!(classify(&read).0, Activity::CopyToUserFileRead);
        // 6.1 without FSRM: the asm routine, direction from its caller.
        let recv = stack(&[
            "copy_user_enhanced_fast_string",
            "_copy_to_iter",
            "__skb_datagram_iter",
            "skb_copy_datagram_iter",
            "tcp_recvmsg_locked",
        ]);
        assert_eq!(classify(&recv).0, Activity::CopyToUserSocketReceive);
        let send = stack(&["rep_movs_alternative", "_copy_from_iter", "tcp_sendmsg_locked", "tcp_sendmsg"]);
        assert_eq!(classify(&send).0, Activity::CopyFromUserSocketSend);
        let pipe = stack(&["_copy_from_iter", "copy_page_from_iter", "anon_pipe_write", "vfs_write"]);
        assert_eq!(classify(&pipe).0, Activity::CopyFromUserPipe);
        let old_pipe = stack(&["copy_user_generic_string", "copy_page_to_iter", "pipe_read.isra.0"]);
        assert_eq!(classify(&old_pipe).0, Activity::CopyToUserPipe);
        assert_eq!(classify(&stack(&["rep_movs_alternative", "mystery"])).0, Activity::CopyOther);
        assert_eq!(classify(&stack(&["_copy_to_user", "cp_new_stat"])).0, Activity::CopyToUserOther);
    }

    #[test]
    fn the_innermost_named_frame_decides() {
        let lookup = stack(&["xas_load", "filemap_get_read_batch", "filemap_get_pages", "filemap_read"]);
        assert_eq!(classify(&lookup).0, Activity::PageCacheLookup);
        let fault = stack(&[
            "clear_page_erms",
            "do_anonymous_page",
            "handle_mm_fault",
            "asm_exc_page_fault",
            "rep_movs_alternative",
            "_copy_from_iter",
        ]);
        assert_eq!(classify(&fault).0, Activity::PageFaults);
        let alloc = stack(&["_raw_spin_lock", "get_page_from_freelist", "__alloc_pages", "tcp_sendmsg_locked"]);
        assert_eq!(classify(&alloc).0, Activity::MemoryAllocation);
        let lo = stack(&["__netif_rx", "netif_rx", "loopback_xmit", "dev_hard_start_xmit", "__dev_queue_xmit"]);
        assert_eq!(classify(&lo).0, Activity::LoopbackTransmit);
        assert_eq!(classify(&stack(&["srso_return_thunk", "do_syscall_64"])).0, Activity::SyscallEntryExit);
        assert_eq!(classify(&[]).0, Activity::UserSpace);
    }

    #[test]
    fn bpf_frames_name_the_program_and_unknown_stacks_keep_their_leaf() {
        let ours = stack(&["bpf_prog_6deef7357e7b4530_sys_exit_raw", "bpf_trace_run2", "syscall_exit_work"]);
        assert_eq!(classify(&ours), (Activity::BpfPrograms, Some("zcopy sys_exit_raw".to_owned())));
        let theirs = stack(&["bpf_prog_0123456789abcdef_other_prog", "bpf_trace_run1"]);
        assert_eq!(classify(&theirs), (Activity::BpfPrograms, Some("other_prog".to_owned())));
        assert_eq!(
            classify(&stack(&["mystery_fn.cold", "another"])),
            (Activity::OtherKernel, Some("mystery_fn".to_owned()))
        );
    }

    #[test]
    fn every_activity_but_user_space_has_a_rule_or_a_site() {
        for a in Activity::ALL {
            let named = ACTIVITIES.iter().any(|r| r.role == Role::Is(a)) || COPY_SITES.iter().any(|(s, _)| *s == a);
            let derived = matches!(
                a,
                Activity::UserSpace
                    | Activity::OtherKernel
                    | Activity::CopyToUserOther
                    | Activity::CopyFromUserOther
                    | Activity::CopyOther
            );
            assert!(named || derived, "{a:?} can never be found");
        }
    }

    #[test]
    fn the_profile_counts_shares_and_lines() {
        let symbols = KernelSymbols::parse(
            "ffffffff81000000 T _copy_to_iter\nffffffff81001000 T filemap_read\nffffffff81002000 T do_syscall_64\n",
        )
        .ok_or_else(String::new);
        let mut stacks = BTreeMap::new();
        stacks.insert(vec![0xffffffff81000010, 0xffffffff81001010, 0xffffffff81002010], 30);
        stacks.insert(vec![], 10);
        let p = build([("dd;x", &stacks)], 1000, 2, &symbols);
        assert_eq!((p.samples, p.user_samples, p.lost), (40, 10, 2));
        assert_eq!(p.activities[0].activity, Activity::CopyToUserFileRead);
        assert_eq!(p.activities[0].share.samples, 30);
        assert!((p.activities[0].cpu_ms - 30.0).abs() < 1e-9);
        assert!(p.activities[0].share.low < 0.75 && p.activities[0].share.high > 0.75);
        assert_eq!(p.folded[0], ("dd_x;do_syscall_64;filemap_read;_copy_to_iter".to_owned(), 30));
        let none = build([("dd", &stacks)], 1000, 0, &Err("no kallsyms".into()));
        assert!(none.activities.is_empty() && none.samples == 40);
    }

    #[test]
    fn perf_script_stacks_are_classified_by_the_same_table() {
        let text = "dd 123 [000] 1.0: 1001001 cpu-clock:ppp:\n\tffffffff81000010 _copy_to_iter+0x10 ([kernel.kallsyms])\n\tffffffff81001010 filemap_read+0x10 ([kernel.kallsyms])\n\t7f0000001234 read+0x12 (/usr/lib/libc.so.6)\n\ndd 123 [000] 1.1: 1001001 cpu-clock:ppp:\n\t7f0000001234 memcpy+0x12 (/usr/lib/libc.so.6)\n\n";
        let p = from_perf_script(text, 999, &[]);
        assert_eq!(from_perf_script(text, 999, &["cat".to_owned()]).samples, 0);
        assert_eq!((p.samples, p.user_samples), (2, 1));
        assert_eq!(p.samples_of(Activity::CopyToUserFileRead), 1);
        assert_eq!(p.samples_of(Activity::UserSpace), 1);
    }

    #[test]
    fn wilson_interval_brackets_the_share() {
        let s = Share::of(50, 100);
        assert!((s.low - 0.404).abs() < 0.002 && (s.high - 0.596).abs() < 0.002, "{s:?}");
        let zero = Share::of(0, 100);
        assert!(zero.low == 0.0 && zero.high > 0.03 && zero.high < 0.04);
    }
}
