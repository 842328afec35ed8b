//! The metric families `/metrics` serves: one table, from which the names,
//! the HELP text (what is counted, measured by which hook) and the values
//! are all derived; and the rendering of one scrape in the OpenMetrics text
//! format (prometheus-client).

use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric as _, MetricEncoder, NoLabelSet},
    metrics::{MetricType, counter::ConstCounter, gauge::ConstGauge},
    registry::{Registry, Unit},
};
use zcopy_common::agent::Counter;

use super::series::{Key, Series, Values};

/// How a family's samples come out of a series' values.
#[derive(Debug)]
pub enum Samples {
    /// One counter.
    One(Counter),
    /// One sample per label value.
    By { label: &'static str, values: &'static [(&'static str, Counter)] },
    /// Per device: bytes (true) or packets (false), labelled device and device_kind.
    Devices { bytes: bool },
    /// Per syscall number, labelled syscall.
    Syscalls,
}

/// One counter family.
#[derive(Debug)]
pub struct Family {
    /// The name without unit and `_total`.
    pub name: &'static str,
    pub bytes: bool,
    /// What is counted.
    pub what: &'static str,
    /// The program that counts it (its hook is the HELP's source).
    pub program: &'static str,
    pub samples: Samples,
}

/// Every per-cgroup family.
pub const FAMILIES: &[Family] = &[
    Family {
        name: "zcopy_socket_sent",
        bytes: true,
        what: "Bytes sockets accepted from send calls, in the calling task's cgroup, by how the send was asked for (the syscall the task is in and its flags, from its saved registers): cpu_copy (write, writev, send, sendto, sendmsg, sendmmsg: copied from user memory by the CPU), by_reference (sendfile, splice: pages passed, no CPU copy on this side), zero_copy_asked (send* with MSG_ZEROCOPY; whether the kernel copied anyway is zcopy_zero_copy_copied_anyway_bytes_total, --zero-copy), other (io_uring, kernel senders: not classified)",
        program: "agent_sock_send",
        samples: Samples::By {
            label: "how",
            values: &[
                ("cpu_copy", Counter::SocketSentCpuCopyBytes),
                ("by_reference", Counter::SocketSentByReferenceBytes),
                ("zero_copy_asked", Counter::SocketSentZeroCopyBytes),
                ("other", Counter::SocketSentOtherBytes),
            ],
        },
    },
    Family {
        name: "zcopy_socket_sends",
        bytes: false,
        what: "Send calls on sockets that moved at least one byte",
        program: "agent_sock_send",
        samples: Samples::One(Counter::SocketSends),
    },
    Family {
        name: "zcopy_socket_received_cpu_copy",
        bytes: true,
        what: "Bytes received from sockets by CPU copy into user memory (read, recv*, io_uring receives; MSG_PEEK excluded), in the calling task's cgroup",
        program: "agent_sock_recv",
        samples: Samples::One(Counter::SocketReceivedBytes),
    },
    Family {
        name: "zcopy_socket_receives",
        bytes: false,
        what: "Receive calls on sockets that returned at least one byte",
        program: "agent_sock_recv",
        samples: Samples::One(Counter::SocketReceives),
    },
    Family {
        name: "zcopy_zero_copy_sent",
        bytes: true,
        what: "Paged bytes of zero-copy packets (MSG_ZEROCOPY, io_uring SEND_ZC) handed to a device (opt-in: --zero-copy), retransmissions included, charged to the socket's cgroup (the one its creator ran in)",
        program: "agent_zc_xmit",
        samples: Samples::One(Counter::ZeroCopySentBytes),
    },
    Family {
        name: "zcopy_zero_copy_copied_anyway",
        bytes: true,
        what: "Bytes of zero-copy sends the kernel copied anyway (opt-in: --zero-copy): received by this host's own stack (loopback, veth), which copies the frags (received_by_this_host, at netif_receive_skb), or sent on a device without scatter-gather (device_without_sg)",
        program: "agent_zc_xmit",
        samples: Samples::By {
            label: "reason",
            values: &[
                ("received_by_this_host", Counter::ZeroCopyCopiedReceivedBytes),
                ("device_without_sg", Counter::ZeroCopyCopiedNoSgBytes),
            ],
        },
    },
    Family {
        name: "zcopy_transmit",
        bytes: true,
        what: "Bytes of packets handed to each device (skb->len; opt-in: --packets), charged to the cgroup of the packet's socket (the one its creator ran in; packets without a socket: cgroup=\"(no socket)\"); device_kind tells loopback and virtual devices (no DMA) from hardware",
        program: "agent_transmit",
        samples: Samples::Devices { bytes: true },
    },
    Family {
        name: "zcopy_transmit_packets",
        bytes: false,
        what: "Packets handed to each device (opt-in: --packets), charged to the packet's socket's cgroup",
        program: "agent_transmit",
        samples: Samples::Devices { bytes: false },
    },
    Family {
        name: "zcopy_page_cache_added",
        bytes: true,
        what: "Bytes of folios inserted into the page cache, in the inserting task's cgroup",
        program: "agent_page_cache_add",
        samples: Samples::One(Counter::PageCacheAddedBytes),
    },
    Family {
        name: "zcopy_block",
        bytes: true,
        what: "Bytes of block I/O submitted (bios, whole sectors), in the submitting task's cgroup (writeback submitted by kernel threads is the root cgroup's)",
        program: "agent_block_bio_queue",
        samples: Samples::By {
            label: "op",
            values: &[("read", Counter::BlockReadBytes), ("write", Counter::BlockWriteBytes)],
        },
    },
    Family {
        name: "zcopy_page_faults",
        bytes: false,
        what: "Page fault exceptions by the CPU mode they were taken in (x86)",
        program: "agent_fault_user",
        samples: Samples::By {
            label: "mode",
            values: &[("user", Counter::FaultsUser), ("kernel", Counter::FaultsKernel)],
        },
    },
    Family {
        name: "zcopy_page_faults_by_kind",
        bytes: false,
        what: "Page faults, minor or major, as perf stat counts them",
        program: "agent_minor_faults",
        samples: Samples::By {
            label: "kind",
            values: &[("minor", Counter::FaultsMinor), ("major", Counter::FaultsMajor)],
        },
    },
    Family {
        name: "zcopy_context_switches",
        bytes: false,
        what: "Context switches away from the cgroup's tasks: voluntary (blocked) or involuntary (preempted), as /proc/PID/status counts them",
        program: "agent_sched_switch",
        samples: Samples::By {
            label: "kind",
            values: &[("voluntary", Counter::SwitchesVoluntary), ("involuntary", Counter::SwitchesInvoluntary)],
        },
    },
    Family {
        name: "zcopy_syscalls",
        bytes: false,
        what: "System calls entered, by name (opt-in: --syscalls)",
        program: "agent_sys_enter",
        samples: Samples::Syscalls,
    },
];

impl Family {
    /// The HELP text: what, and measured by which program on which hook
    /// (`point`: the one it attached to).
    pub fn help(&self, program: &str, point: &str) -> String {
        format!("{}. Measured by zcopy's {program} program on the {point}.", self.what)
    }

    /// The full name of its samples (what a PromQL query names).
    pub fn sample_name(&self) -> String {
        format!("{}{}_total", self.name, if self.bytes { "_bytes" } else { "" })
    }
}

/// The `cgroup` label of packets that have no socket.
pub const NO_SOCKET: &str = "(no socket)";

/// A series' labels.
pub type Labels = Vec<(String, String)>;

pub fn series_labels(series: &Series<'_>) -> Labels {
    match series {
        Series::Other => vec![("cgroup".into(), "other".into())],
        Series::NoSocket => vec![("cgroup".into(), NO_SOCKET.into())],
        Series::Cgroup(names) => {
            let mut labels = vec![("cgroup".to_owned(), names.cgroup.clone())];
            let optional = [("unit", &names.unit), ("container_id", &names.container_id), ("pod_uid", &names.pod_uid)];
            for (label, value) in optional {
                if let Some(v) = value {
                    labels.push((label.to_owned(), v.clone()));
                }
            }
            labels
        }
    }
}

/// A gauge or counter about the agent itself.
#[derive(Debug, Clone)]
pub struct Own {
    pub name: &'static str,
    pub help: &'static str,
    pub unit: Option<Unit>,
    pub counter: bool,
    pub samples: Vec<(Labels, f64)>,
}

/// One scrape's data, owned (the registry wants `'static` collectors).
#[derive(Debug)]
pub struct Scrape {
    /// Programs attached, and the hook each is attached to.
    pub attached: Vec<(&'static str, String)>,
    pub series: Vec<(Labels, Values)>,
    pub own: Vec<Own>,
}

impl Scrape {
    /// The OpenMetrics text of this scrape.
    pub fn render(self) -> Result<String, std::fmt::Error> {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(self));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry)?;
        Ok(text)
    }
}

impl Collector for Scrape {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for family in FAMILIES {
            let Some((_, point)) = self.attached.iter().find(|(p, _)| *p == family.program) else {
                continue;
            };
            let unit = family.bytes.then_some(Unit::Bytes);
            let help = family.help(family.program, point);
            let mut metric = encoder.encode_descriptor(family.name, &help, unit.as_ref(), MetricType::Counter)?;
            for (labels, values) in &self.series {
                let no_socket = labels.first().is_some_and(|(_, v)| v == NO_SOCKET);
                if no_socket && !matches!(family.samples, Samples::Devices { .. }) {
                    continue;
                }
                let get = |key: Key| values.get(&key).copied().unwrap_or(0);
                let mut samples: Vec<(Labels, u64)> = Vec::new();
                match family.samples {
                    Samples::One(counter) => samples.push((labels.clone(), get(Key::Counter(counter)))),
                    Samples::By { label, values: by } => {
                        for (value, counter) in by {
                            samples.push((with(labels, label, value), get(Key::Counter(*counter))));
                        }
                    }
                    Samples::Devices { bytes } => {
                        for (key, v) in values {
                            let name = match (key, bytes) {
                                (Key::DeviceBytes(n), true) | (Key::DevicePackets(n), false) => {
                                    crate::bpf::nul_padded(n)
                                }
                                _ => continue,
                            };
                            let kind = crate::system::netdev::device_kind(&name).label();
                            samples.push((with(&with(labels, "device", &name), "device_kind", kind), *v));
                        }
                    }
                    Samples::Syscalls => {
                        for (key, v) in values {
                            if let Key::Syscall(nr) = key {
                                samples.push((with(labels, "syscall", &syscall_name(*nr)), *v));
                            }
                        }
                    }
                }
                for (labels, v) in samples {
                    metric.encode_family(&labels)?.encode_counter::<NoLabelSet, _, u64>(&v, None)?;
                }
            }
        }
        for own in &self.own {
            let kind = if own.counter { MetricType::Counter } else { MetricType::Gauge };
            let mut metric = encoder.encode_descriptor(own.name, own.help, own.unit.as_ref(), kind)?;
            // One sample without labels is written bare (`name value`, not `name{} value`).
            if let [(labels, v)] = own.samples.as_slice()
                && labels.is_empty()
            {
                encode_own(own.counter, *v, metric)?;
                continue;
            }
            for (labels, v) in &own.samples {
                encode_own(own.counter, *v, metric.encode_family(labels)?)?;
            }
        }
        Ok(())
    }
}

/// One sample of an [`Own`] metric.
fn encode_own(counter: bool, v: f64, sample: MetricEncoder<'_>) -> Result<(), std::fmt::Error> {
    if counter { ConstCounter::new(v).encode(sample) } else { ConstGauge::new(v).encode(sample) }
}

fn with(labels: &Labels, label: &str, value: &str) -> Labels {
    let mut out = labels.clone();
    out.push((label.to_owned(), value.to_owned()));
    out
}

/// A syscall's name where zcopy knows it, else `nr_N`.
fn syscall_name(nr: u32) -> String {
    crate::syscalls::TRACKED
        .iter()
        .find(|s| i64::from(nr) == s.nr)
        .map_or_else(|| format!("nr_{nr}"), |s| s.name.to_owned())
}
