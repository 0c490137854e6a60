fn main() -> std::process::ExitCode {
    // Without io_uring (an old kernel, kernel.io_uring_disabled, a seccomp
    // filter) the variants' table entries say why, and the command line
    // makes it a usage error (exit 2).
    workload::cli::main(&completion::LESSON)
}
