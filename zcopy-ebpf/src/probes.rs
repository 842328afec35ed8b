//! Empty programs of each attach type, loaded by `zcopy doctor` to find out
//! what this kernel allows (a program type can exist and still be refused,
//! e.g. fentry under lockdown, or kprobes without CONFIG_KPROBES).

use aya_ebpf::{
    macros::{btf_tracepoint, fentry, kprobe, raw_tracepoint},
    programs::{BtfTracePointContext, FEntryContext, ProbeContext, RawTracePointContext},
};

/// raw_tracepoint on sys_enter.
#[raw_tracepoint(tracepoint = "sys_enter")]
pub fn probe_raw_tracepoint(_ctx: RawTracePointContext) -> i32 {
    0
}

/// tp_btf on sched_switch (needs kernel BTF).
#[btf_tracepoint(function = "sched_switch")]
pub fn probe_tp_btf(_ctx: BtfTracePointContext) -> i32 {
    0
}

/// fentry on vfs_read (needs BTF and BPF trampolines).
#[fentry(function = "vfs_read")]
pub fn probe_fentry(_ctx: FEntryContext) -> i32 {
    0
}

/// kprobe, attached to vfs_read by the loader (needs CONFIG_KPROBES).
#[kprobe]
pub fn probe_kprobe(_ctx: ProbeContext) -> u32 {
    0
}
