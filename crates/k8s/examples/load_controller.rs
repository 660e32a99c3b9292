//! The controller of this crate's load test (`tests/it/load.rs`), in a
//! process of its own so that the test reads the controller's peak memory
//! alone: `Controller::run` over the API server at URL, for the
//! MetalLB objects of NAMESPACE, until killed. With the `ferrolb` binary's
//! allocator (mimalloc) and on a current-thread runtime, as
//! `ferrolb controller` runs.
//!
//! ```text
//! load_controller URL NAMESPACE
//! ```
//!
//! The test kills it when done; one whose test was killed hard (so that
//! nothing killed it) stops after 15 minutes.

use std::process::ExitCode;
use std::time::Duration;

use ferrolb_k8s::{Controller, ControllerOptions};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How long a controller left behind by a test killed hard keeps running.
const ORPHAN_DEADLINE: Duration = Duration::from_secs(900);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, namespace] = args.as_slice() else {
        eprintln!("usage: load_controller URL NAMESPACE");
        return ExitCode::from(2);
    };
    let url = match url.parse() {
        Ok(url) => url,
        Err(e) => {
            eprintln!("not a URL: {url}: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("cannot start a runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let client = match kube::Client::try_from(kube::Config::new(url)) {
            Ok(client) => client,
            Err(e) => {
                eprintln!("cannot make a client: {e}");
                return ExitCode::FAILURE;
            }
        };
        let options =
            ControllerOptions { debounce: Duration::from_millis(200), ..ControllerOptions::default() };
        match tokio::time::timeout(ORPHAN_DEADLINE, Controller::run(client, namespace, options)).await {
            Err(_) => ExitCode::SUCCESS,
            Ok(Ok(())) => {
                eprintln!("the controller returned; it runs until killed");
                ExitCode::FAILURE
            }
            Ok(Err(e)) => {
                eprintln!("the controller failed: {e}");
                ExitCode::FAILURE
            }
        }
    })
}
