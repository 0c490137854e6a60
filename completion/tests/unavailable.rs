//! Where io_uring is refused, the binary says why and exits 2 instead of
//! failing ten pages. The refusal is made real with a seccomp filter, as
//! a container runtime installs one: the child process is started with
//! `io_uring_setup` answering EPERM (or ENOSYS, as on a kernel without
//! io_uring) and every other system call allowed.

use std::os::unix::process::CommandExt;
use std::process::Command;

/// A seccomp program: `io_uring_setup` fails with `errno`, everything else
/// runs.
fn io_uring_setup_fails_with(errno: u32) -> [libc::sock_filter; 4] {
    let stmt = |code: u32, k: u32| libc::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    };
    [
        // A = seccomp_data.nr
        stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, 0),
        // if A == io_uring_setup, go on to the next line, else skip it
        libc::sock_filter {
            code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
            jt: 0,
            jf: 1,
            k: libc::SYS_io_uring_setup as u32,
        },
        stmt(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_ERRNO | errno),
        stmt(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_ALLOW),
    ]
}

/// Run the lesson's binary with io_uring_setup refused; its exit code and
/// stderr.
fn run_refused(errno: u32) -> (Option<i32>, String) {
    let filter = io_uring_setup_fails_with(errno);
    let mut command = Command::new(env!("CARGO_BIN_EXE_completion"));
    command.args(["--pages", "2", "--latency-ms", "0"]);
    // SAFETY: runs in the forked child before exec; it only makes two
    // system calls (prctl, seccomp) on memory that the fork copied, and
    // allocates nothing.
    unsafe {
        command.pre_exec(move || {
            let program = libc::sock_fprog {
                len: filter.len() as u16,
                filter: filter.as_ptr() as *mut libc::sock_filter,
            };
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                || libc::syscall(
                    libc::SYS_seccomp,
                    libc::SECCOMP_SET_MODE_FILTER,
                    0,
                    &program as *const libc::sock_fprog,
                ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let output = command.output().expect("run the completion binary");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_seccomp_filter_is_named_and_exits_2() {
    let (code, stderr) = run_refused(libc::EPERM as u32);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "io_uring is disabled (kernel.io_uring_disabled) or blocked by a seccomp filter"
        ),
        "{stderr}"
    );
}

#[test]
fn a_kernel_without_io_uring_is_named_and_exits_2() {
    let (code, stderr) = run_refused(libc::ENOSYS as u32);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("this kernel has no io_uring"), "{stderr}");
}
