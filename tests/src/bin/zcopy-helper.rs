//! A workload with known answers, for zcopy's privileged tests.
//!
//! `zcopy-helper READS WRITES SIZE PAGES SLEEPS [FILE]` forks one worker
//! process that makes, with raw syscalls and nothing else:
//! - READS x read(2) of SIZE bytes from /dev/zero,
//! - WRITES x write(2) of SIZE bytes to /dev/null,
//! - one mmap(2) of PAGES pages of FILE (MAP_SHARED, read-only; created by the
//!   helper if absent), a read of one byte in each page, one munmap(2),
//! - SLEEPS x nanosleep(2) of 1 ms (each one a voluntary context switch),
//!
//! then exits. The parent waits for it without reaping it (waitid WNOWAIT),
//! reads its /proc/PID/stat and /proc/PID/status, reaps it with wait4 for its
//! rusage, and prints one JSON line with all of it: ground truth that does
//! not come from BPF.
//!
//! `zcopy-helper udp COUNT SIZE` instead sends COUNT datagrams of SIZE bytes
//! over UDP to itself on 127.0.0.1, receives them, and prints
//! `{"sent":..,"received":..}` (bytes).
//!
//! `zcopy-helper threads N CALLS` prints `ready PID`, waits for SIGUSR1,
//! then runs N threads that each make CALLS read(2)s of one byte from
//! /dev/zero, joins them, prints `{"threads":N,"reads":N*CALLS}` and exits.
//!
//! `zcopy-helper overhead storm CALLS | devzero CALLS | read-write FILE |
//! sendfile FILE` is the work `cargo xtask bench-overhead` times: CALLS
//! one-byte reads of /dev/zero, CALLS 64 KiB reads of /dev/zero each written
//! to /dev/null, or FILE sent over TCP loopback to a receiving thread in
//! 64 KiB read()+write() or sendfile() calls. It prints `{"work_s":..}`: the time of
//! the work alone, without any tracer's start-up.
//!
//! `zcopy-helper proxy UPSTREAM_PORT` is a relay: it listens on 127.0.0.1,
//! prints `listening PORT`, accepts one client, connects to
//! 127.0.0.1:UPSTREAM_PORT and forwards what the client sends there in
//! 64 KiB read()+write() calls until the client closes, then exits.
//!
//! `zcopy-helper replies REQUEST REPLY` is a request/response server whose
//! replies are not its requests: it listens, prints `listening PORT`,
//! accepts one client and, for every REQUEST bytes it reads, writes REPLY
//! bytes it makes itself, until the client closes.
//!
//! `zcopy-helper zerocopy COUNT SIZE` prints `ready PID`, waits for SIGUSR1,
//! then sends COUNT x SIZE bytes with send(MSG_ZEROCOPY) over TCP loopback
//! to a receiving thread, reads every completion from the error queue, and
//! prints `{"sent":..,"copied_bytes":..,"retransmitted_bytes":..}`: the bytes
//! of the sends the kernel reported copied (SO_EE_CODE_ZEROCOPY_COPIED) and
//! what the socket retransmitted (TCP_INFO tcpi_bytes_retrans).
//!
//! With `--wait-for-signal` as first argument, the parent first prints
//! `ready PID` and waits for SIGUSR1 (so a tracer can attach to it).

use std::{ffi::CString, fs, io::Write as _};

fn die(msg: &str) -> ! {
    eprintln!("zcopy-helper: {msg}");
    std::process::exit(2);
}

fn arg(args: &[String], i: usize, name: &str) -> usize {
    args.get(i).and_then(|a| a.parse().ok()).unwrap_or_else(|| die(&format!("argument {i} ({name}) must be a number")))
}

/// `calls` read(2)s of one byte from /dev/zero, with raw syscalls.
fn read_zero_bytes(calls: usize) {
    let zero = CString::new("/dev/zero").unwrap_or_default();
    // SAFETY: open/read/close on a byte we own.
    unsafe {
        let fd = libc::open(zero.as_ptr(), libc::O_RDONLY);
        let mut b = 0u8;
        for _ in 0..calls {
            libc::read(fd, (&raw mut b).cast(), 1);
        }
        libc::close(fd);
    }
}

/// Prints `ready PID` and blocks until SIGUSR1 arrives.
fn wait_for_usr1() {
    // SAFETY: plain signal-mask calls on a local set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGUSR1);
        libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        println!("ready {}", std::process::id());
        let _ = std::io::stdout().flush();
        let mut sig = 0;
        libc::sigwait(&set, &mut sig);
    }
}

fn threads(n: usize, calls: usize) {
    wait_for_usr1();
    let workers: Vec<_> = (0..n).map(|_| std::thread::spawn(move || read_zero_bytes(calls))).collect();
    for w in workers {
        let _ = w.join();
    }
    println!("{{\"threads\":{n},\"reads\":{}}}", n * calls);
}

fn udp(count: usize, size: usize) {
    let fail = |e: std::io::Error| -> ! { die(&format!("udp: {e}")) };
    let rx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap_or_else(|e| fail(e));
    let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap_or_else(|e| fail(e));
    let to = rx.local_addr().unwrap_or_else(|e| fail(e));
    let data = vec![5u8; size];
    let mut buf = vec![0u8; size + 1];
    let (mut sent, mut received) = (0, 0);
    for _ in 0..count {
        sent += tx.send_to(&data, to).unwrap_or_else(|e| fail(e));
        received += rx.recv(&mut buf).unwrap_or_else(|e| fail(e));
    }
    println!("{{\"sent\":{sent},\"received\":{received}}}");
}

/// `reuse N FILE`: N times, one descriptor number used for three kinds of
/// file in a row: /dev/null (write 3 bytes), closed and reused by a unix
/// socket (write 5 bytes), then a regular file dup2'd over that socket
/// (write 7 bytes). Each write's fd kind is the one its number has at the
/// time: N x 3 bytes to a char device, N x 5 to a socket, N x 7 to a file.
fn reuse(n: usize, file: &str) {
    let path = CString::new(file).unwrap_or_else(|_| die("file name has a NUL byte"));
    let write = |fd: i32, len: usize| {
        let bytes = [1u8; 8];
        // SAFETY: a valid buffer of at least len bytes.
        if unsafe { libc::write(fd, bytes.as_ptr().cast(), len) } != len as isize {
            die(&format!("reuse: write to fd {fd}: {}", std::io::Error::last_os_error()));
        }
    };
    for _ in 0..n {
        // SAFETY: plain descriptor syscalls on valid arguments.
        unsafe {
            let null = libc::open(c"/dev/null".as_ptr(), libc::O_WRONLY);
            write(null, 3);
            libc::close(null);
            let mut pair = [0i32; 2];
            if libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM, 0, pair.as_mut_ptr()) != 0 || pair[0] != null {
                die("reuse: the socket did not get the closed descriptor's number");
            }
            write(pair[0], 5);
            let f = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC, 0o600);
            if f < 0 || libc::dup2(f, pair[0]) != pair[0] {
                die("reuse: open or dup2 failed");
            }
            write(pair[0], 7);
            libc::close(f);
            libc::close(pair[0]);
            libc::close(pair[1]);
        }
    }
}

/// The timed work of `cargo xtask bench-overhead`.
fn overhead(mode: &str, arg: &str) {
    const CHUNK: usize = 64 << 10;
    let fail = |e: std::io::Error| -> ! { die(&format!("overhead {mode}: {e}")) };
    let start = std::time::Instant::now();
    match mode {
        "storm" => {
            read_zero_bytes(arg.parse().unwrap_or_else(|_| die("storm CALLS must be a number")));
        }
        "read-write" | "sendfile" => {
            use std::os::fd::AsRawFd as _;
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| fail(e));
            let addr = listener.local_addr().unwrap_or_else(|e| fail(e));
            let receiver = std::thread::spawn(move || -> u64 {
                let Ok((mut conn, _)) = listener.accept() else { return 0 };
                let mut buf = vec![0u8; CHUNK];
                let mut total = 0;
                while let Ok(n) = std::io::Read::read(&mut conn, &mut buf) {
                    if n == 0 {
                        break;
                    }
                    total += n as u64;
                }
                total
            });
            let mut sock = std::net::TcpStream::connect(addr).unwrap_or_else(|e| fail(e));
            let mut file = fs::File::open(arg).unwrap_or_else(|e| fail(e));
            let mut buf = vec![0u8; CHUNK];
            loop {
                let n = if mode == "sendfile" {
                    // SAFETY: sendfile between two open descriptors, no offset pointer.
                    let n = unsafe { libc::sendfile(sock.as_raw_fd(), file.as_raw_fd(), std::ptr::null_mut(), CHUNK) };
                    usize::try_from(n).unwrap_or_else(|_| fail(std::io::Error::last_os_error()))
                } else {
                    let n = std::io::Read::read(&mut file, &mut buf).unwrap_or_else(|e| fail(e));
                    std::io::Write::write_all(&mut sock, &buf[..n]).unwrap_or_else(|e| fail(e));
                    n
                };
                if n == 0 {
                    break;
                }
            }
            drop(sock);
            let _ = receiver.join();
        }
        "devzero" => {
            // CALLS x (read 64 KiB of /dev/zero, write it to /dev/null): each
            // call touches 64 KiB, as a server's do.
            let calls: usize = arg.parse().unwrap_or_else(|_| die("devzero CALLS must be a number"));
            let mut zero = fs::File::open("/dev/zero").unwrap_or_else(|e| fail(e));
            let mut null = fs::OpenOptions::new().write(true).open("/dev/null").unwrap_or_else(|e| fail(e));
            let mut buf = vec![0u8; CHUNK];
            for _ in 0..calls {
                let n = std::io::Read::read(&mut zero, &mut buf).unwrap_or_else(|e| fail(e));
                std::io::Write::write_all(&mut null, &buf[..n]).unwrap_or_else(|e| fail(e));
            }
        }
        _ => die("overhead MODE is storm, read-write, sendfile or devzero"),
    }
    println!("{{\"work_s\":{}}}", start.elapsed().as_secs_f64());
}

/// MSG_ZEROCOPY completions read so far.
#[derive(Default)]
struct Completions {
    completed: usize,
    copied_bytes: u64,
}

impl Completions {
    /// Waits for completions on `fd`'s error queue and reads what is there;
    /// `sizes` are the sends' byte counts by id.
    fn wait(&mut self, fd: i32, sizes: &[u64]) {
        let mut pfd = libc::pollfd { fd, events: 0, revents: 0 };
        // SAFETY: one valid pollfd.
        unsafe { libc::poll(&raw mut pfd, 1, -1) };
        let mut control = [0u64; 16];
        // SAFETY: a zeroed msghdr with our control buffer.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&control);
        // SAFETY: msg points to valid buffers.
        if unsafe { libc::recvmsg(fd, &raw mut msg, libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT) } < 0 {
            return;
        }
        // SAFETY: walking the control messages recvmsg filled in.
        unsafe {
            let mut cmsg = libc::CMSG_FIRSTHDR(&raw const msg);
            while !cmsg.is_null() {
                let err = libc::CMSG_DATA(cmsg).cast::<libc::sock_extended_err>().read_unaligned();
                // SO_EE_ORIGIN_ZEROCOPY; ee_info..=ee_data are the send ids; SO_EE_CODE_ZEROCOPY_COPIED.
                if err.ee_origin == 5 && err.ee_errno == 0 {
                    for id in err.ee_info..=err.ee_data {
                        self.completed += 1;
                        if err.ee_code & 1 != 0 {
                            self.copied_bytes += sizes.get(id as usize).copied().unwrap_or(0);
                        }
                    }
                }
                cmsg = libc::CMSG_NXTHDR(&raw const msg, cmsg);
            }
        }
    }
}

/// MSG_ZEROCOPY sends to a receiving thread; see the module's doc.
fn zerocopy(count: usize, size: usize) {
    use std::{io::Read as _, os::fd::AsRawFd as _};
    let fail = |what: &str, e: std::io::Error| -> ! { die(&format!("zerocopy: {what}: {e}")) };
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| fail("bind", e));
    let addr = listener.local_addr().unwrap_or_else(|e| fail("address", e));
    let receiver = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap_or_else(|e| fail("accept", e));
        let mut buf = vec![0u8; 1 << 16];
        let mut total = 0u64;
        while let Ok(n) = s.read(&mut buf) {
            if n == 0 {
                break;
            }
            total += n as u64;
        }
        total
    });
    let tx = std::net::TcpStream::connect(addr).unwrap_or_else(|e| fail("connect", e));
    let fd = tx.as_raw_fd();
    let one: libc::c_int = 1;
    // SAFETY: setting an int socket option from a local.
    if unsafe { libc::setsockopt(fd, libc::SOL_SOCKET, libc::SO_ZEROCOPY, (&raw const one).cast(), 4) } != 0 {
        fail("SO_ZEROCOPY", std::io::Error::last_os_error());
    }
    wait_for_usr1();
    let data = vec![7u8; size];
    let mut sizes: Vec<u64> = Vec::with_capacity(count);
    let mut done = Completions::default();
    while sizes.len() < count {
        // SAFETY: sending from a live buffer, which outlives its completion.
        let n = unsafe { libc::send(fd, data.as_ptr().cast(), size, libc::MSG_ZEROCOPY) };
        match n {
            n if n >= 0 => sizes.push(n as u64),
            _ if std::io::Error::last_os_error().raw_os_error() == Some(libc::ENOBUFS) => done.wait(fd, &sizes),
            _ => fail("send", std::io::Error::last_os_error()),
        }
    }
    while done.completed < sizes.len() {
        done.wait(fd, &sizes);
    }
    let mut info = [0u8; 256];
    let mut len = info.len() as libc::socklen_t;
    // SAFETY: a buffer and its length.
    unsafe { libc::getsockopt(fd, libc::IPPROTO_TCP, libc::TCP_INFO, info.as_mut_ptr().cast(), &raw mut len) };
    let retransmitted = u64::from_ne_bytes(info[208..216].try_into().unwrap_or_default());
    drop(tx);
    let received = receiver.join().unwrap_or(0);
    let sent: u64 = sizes.iter().sum();
    println!(
        "{{\"sent\":{sent},\"received\":{received},\"copied_bytes\":{},\"retransmitted_bytes\":{retransmitted}}}",
        done.copied_bytes
    );
}

/// Listens on 127.0.0.1, prints `listening PORT`, accepts one client.
fn accept_one() -> std::net::TcpStream {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| die(&format!("bind: {e}")));
    let port = listener.local_addr().map(|a| a.port()).unwrap_or_else(|e| die(&format!("address: {e}")));
    println!("listening {port}");
    let _ = std::io::stdout().flush();
    listener.accept().map(|(s, _)| s).unwrap_or_else(|e| die(&format!("accept: {e}")))
}

/// Forwards one client to 127.0.0.1:`upstream` with read()+write().
fn proxy(upstream: usize) {
    use std::io::Read as _;
    let mut client = accept_one();
    let port = u16::try_from(upstream).unwrap_or_else(|_| die("UPSTREAM_PORT is a port"));
    let mut up = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap_or_else(|e| die(&format!("connect: {e}")));
    let mut buf = vec![0u8; 64 << 10];
    loop {
        match client.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => up.write_all(&buf[..n]).unwrap_or_else(|e| die(&format!("write upstream: {e}"))),
            Err(e) => die(&format!("read client: {e}")),
        }
    }
}

/// Answers every `request` bytes read with `reply` bytes of its own.
fn replies(request: usize, reply: usize) {
    use std::io::Read as _;
    let mut client = accept_one();
    let mut req = vec![0u8; request.max(1)];
    let mut answer = vec![0u8; reply.max(1)];
    let mut n: u64 = 0;
    while client.read_exact(&mut req).is_ok() {
        n += 1;
        // A reply made here, unlike the request (a counter in every byte).
        answer.fill(n as u8);
        client.write_all(&answer).unwrap_or_else(|e| die(&format!("reply: {e}")));
    }
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().is_some_and(|a| a == "zerocopy") {
        return zerocopy(arg(&args, 1, "COUNT"), arg(&args, 2, "SIZE"));
    }
    if args.first().is_some_and(|a| a == "proxy") {
        return proxy(arg(&args, 1, "UPSTREAM_PORT"));
    }
    if args.first().is_some_and(|a| a == "replies") {
        return replies(arg(&args, 1, "REQUEST"), arg(&args, 2, "REPLY"));
    }
    if args.first().is_some_and(|a| a == "overhead") {
        return overhead(args.get(1).map_or("", String::as_str), args.get(2).map_or("", String::as_str));
    }
    if args.first().is_some_and(|a| a == "threads") {
        return threads(arg(&args, 1, "N"), arg(&args, 2, "CALLS"));
    }
    if args.first().is_some_and(|a| a == "reuse") {
        return reuse(arg(&args, 1, "N"), args.get(2).map_or("", String::as_str));
    }
    if args.first().is_some_and(|a| a == "udp") {
        return udp(arg(&args, 1, "COUNT"), arg(&args, 2, "SIZE"));
    }
    let wait_for_signal = args.first().is_some_and(|a| a == "--wait-for-signal");
    if wait_for_signal {
        args.remove(0);
    }
    let reads = arg(&args, 0, "READS");
    let writes = arg(&args, 1, "WRITES");
    let size = arg(&args, 2, "SIZE");
    let pages = arg(&args, 3, "PAGES");
    let sleeps = arg(&args, 4, "SLEEPS");
    let file = args.get(5).cloned().unwrap_or_else(|| format!("/tmp/zcopy-helper-{}.bin", std::process::id()));
    // SAFETY: sysconf has no preconditions.
    let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
    let created = !std::path::Path::new(&file).exists();
    if created {
        fs::write(&file, vec![7u8; pages.max(1) * page]).unwrap_or_else(|e| die(&format!("writing {file}: {e}")));
    }

    if wait_for_signal {
        wait_for_usr1();
    }

    let mut buf = vec![0u8; size.max(1)];
    let zero = CString::new("/dev/zero").unwrap_or_default();
    let null = CString::new("/dev/null").unwrap_or_default();
    let path = CString::new(file.clone()).unwrap_or_else(|_| die("file name has a NUL byte"));
    // SAFETY: opening files with valid C strings.
    let (zero_fd, null_fd, file_fd) = unsafe {
        (
            libc::open(zero.as_ptr(), libc::O_RDONLY),
            libc::open(null.as_ptr(), libc::O_WRONLY),
            libc::open(path.as_ptr(), libc::O_RDONLY),
        )
    };
    if zero_fd < 0 || null_fd < 0 || file_fd < 0 {
        die("cannot open /dev/zero, /dev/null or the file");
    }

    // SAFETY: fork in a single-threaded process; the child only makes raw
    // syscalls on memory that already exists, then _exit.
    let worker = unsafe { libc::fork() };
    if worker < 0 {
        die("fork failed");
    }
    if worker == 0 {
        // SAFETY: see above.
        unsafe {
            for _ in 0..reads {
                if libc::read(zero_fd, buf.as_mut_ptr().cast(), size) != size as isize {
                    libc::_exit(3);
                }
            }
            for _ in 0..writes {
                if libc::write(null_fd, buf.as_ptr().cast(), size) != size as isize {
                    libc::_exit(4);
                }
            }
            if pages > 0 {
                let len = pages * page;
                let map = libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ, libc::MAP_SHARED, file_fd, 0);
                if map == libc::MAP_FAILED {
                    libc::_exit(5);
                }
                let mut sum = 0u8;
                for p in 0..pages {
                    sum = sum.wrapping_add(std::ptr::read_volatile(map.cast::<u8>().add(p * page)));
                }
                std::hint::black_box(sum);
                libc::munmap(map, len);
            }
            let ts = libc::timespec { tv_sec: 0, tv_nsec: 1_000_000 };
            for _ in 0..sleeps {
                libc::nanosleep(&ts, std::ptr::null_mut());
            }
            libc::_exit(0);
        }
    }

    // SAFETY: waiting for our own child with valid pointers.
    let (stat, status, usage, code) = unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        if libc::waitid(libc::P_PID, worker as libc::id_t, &mut info, libc::WEXITED | libc::WNOWAIT) != 0 {
            die("waitid failed");
        }
        let stat = fs::read_to_string(format!("/proc/{worker}/stat")).unwrap_or_default();
        let status = fs::read_to_string(format!("/proc/{worker}/status")).unwrap_or_default();
        let mut code = 0;
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::wait4(worker, &mut code, 0, &mut usage);
        (stat, status, usage, code)
    };
    if created {
        let _ = fs::remove_file(&file);
    }
    let after_comm = stat.rfind(')').map_or("", |i| &stat[i + 1..]);
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3).copied().unwrap_or("null");
    let status_field =
        |name: &str| status.lines().find_map(|l| l.strip_prefix(name)).map_or("null", str::trim).to_owned();
    println!(
        "{{\"worker_pid\":{worker},\"worker_exit\":{},\"page_size\":{page},\
         \"proc\":{{\"minflt\":{},\"majflt\":{},\"nvcsw\":{},\"nivcsw\":{}}},\
         \"rusage\":{{\"minflt\":{},\"majflt\":{},\"nvcsw\":{},\"nivcsw\":{}}}}}",
        libc::WEXITSTATUS(code),
        field(10),
        field(12),
        status_field("voluntary_ctxt_switches:"),
        status_field("nonvoluntary_ctxt_switches:"),
        usage.ru_minflt,
        usage.ru_majflt,
        usage.ru_nvcsw,
        usage.ru_nivcsw,
    );
}
