//! `rvsadm`: ipvsadm's command line for the rvs dataplane. See
//! [`rvs_controlplane::rvsadm`] for the contract and `rvsadm -h` for usage.

fn main() {
    let args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|arg| arg.to_string_lossy().into_owned())
        .collect();
    std::process::exit(rvs_controlplane::rvsadm::main_with_args(&args));
}
