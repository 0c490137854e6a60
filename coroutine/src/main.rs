fn main() -> std::process::ExitCode {
    workload::cli::main(&coroutine::LESSON)
}
