//! `warren capture NAME LINK [-w FILE|-]`: live pcapng from a running lab.

use crate::Failure;
use crate::args::CaptureArgs;
use std::io::Write;
use warren_lab::proto::Request;
use warren_lab::state::{self, LabState};

pub fn run(args: &CaptureArgs) -> Result<(), Failure> {
    let dir = state::lab_dir(&args.name);
    match LabState::read(&dir).map_err(Failure::error)? {
        Some(st) if st.supervisor_alive() => {}
        _ => {
            return Err(Failure::Error(miette::miette!(
                "no lab called {} is running",
                args.name
            )));
        }
    }
    let mut out: Box<dyn Write> = if args.write == "-" {
        Box::new(std::io::stdout().lock())
    } else {
        let f = std::fs::File::create(&args.write)
            .map_err(|e| miette::miette!("creating {}: {e}", args.write))?;
        Box::new(std::io::BufWriter::new(f))
    };
    let request = Request::Capture {
        link: args.link.clone(),
    };
    warren_lab::client::stream(&dir, request, &mut out).map_err(Failure::error)?;
    out.flush()
        .map_err(|e| miette::miette!("writing {}: {e}", args.write))?;
    Ok(())
}
