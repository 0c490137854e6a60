fn main() -> std::process::ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if let Some(usage_error) = coroutine::reject_bad_stack_flag(&args) {
        return usage_error;
    }
    workload::cli::main_from(&coroutine::LESSON, args)
}
