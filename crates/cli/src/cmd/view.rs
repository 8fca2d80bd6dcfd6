//! `warren view NAME [--port P]`: a live page of a running lab on
//! 127.0.0.1. A tiny HTTP/1.1 server on std (two routes, no keep-alive)
//! serves the page and `/state`; behind it one thread asks the supervisor
//! for `inspect` once a second and another follows its `events` stream.
//! It only reads: the page has no controls. It stops on Ctrl-C or when
//! the lab goes down.

use crate::Failure;
use crate::args::ViewArgs;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use warren_lab::Lab;
use warren_report::topology::{Faults, Topology};

/// How often the lab is inspected (and the page asks for it).
const TICK: Duration = Duration::from_secs(1);

/// What the server hands out, kept fresh by the two threads.
struct Shared {
    topo: Topology,
    state: Mutex<Value>,
    events: Mutex<Vec<Value>>,
    gone: AtomicBool,
}

pub fn run(args: &ViewArgs) -> Result<(), Failure> {
    let lab = Lab::attach(&args.name).map_err(Failure::error)?;
    let path = lab.results_dir().join("lab.json");
    let resolved: Value = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .ok_or_else(|| miette::miette!("reading the lab's resolved file {}", path.display()))?;
    let topo = Topology::from_lab_json(&resolved, Faults::All);
    let first = inspect(&lab).map_err(Failure::error)?;
    let page = warren_report::live::page_for(&topo);
    let shared = Arc::new(Shared {
        state: Mutex::new(warren_report::live::state(&topo, &first)),
        topo,
        events: Mutex::new(Vec::new()),
        gone: AtomicBool::new(false),
    });
    let listener = TcpListener::bind(("127.0.0.1", args.port))
        .map_err(|e| miette::miette!("listening on 127.0.0.1:{}: {e}", args.port))?;
    let addr = listener
        .local_addr()
        .map_err(|e| miette::miette!("reading the listening address: {e}"))?;
    let lab = Arc::new(lab);
    spawn("warren-view-poll", {
        let (lab, shared) = (Arc::clone(&lab), Arc::clone(&shared));
        move || poll(&lab, &shared)
    })?;
    spawn("warren-view-events", {
        let (lab, shared) = (Arc::clone(&lab), Arc::clone(&shared));
        move || follow(&lab, &shared)
    })?;
    println!("http://{addr}/");
    let _ = std::io::stdout().flush();
    eprintln!(
        "serving a live view of lab {} (read only); Ctrl-C stops",
        args.name
    );
    // Non-blocking accepts, so the loop notices the lab going down.
    listener
        .set_nonblocking(true)
        .map_err(|e| miette::miette!("{e}"))?;
    let page = Arc::new(page);
    while !shared.gone.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                let (shared, page) = (Arc::clone(&shared), Arc::clone(&page));
                let _ = std::thread::Builder::new()
                    .name("warren-view-http".into())
                    .spawn(move || serve(stream, &page, &shared));
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => return Err(Failure::Error(miette::miette!("accepting: {e}"))),
        }
    }
    eprintln!("lab {} is down; the view stops", args.name);
    Ok(())
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Result<(), Failure> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .map(|_| ())
        .map_err(|e| Failure::Error(miette::miette!("starting a thread: {e}")))
}

fn inspect(lab: &Lab) -> Result<Value, warren_lab::LabError> {
    let info = lab.inspect()?;
    Ok(serde_json::to_value(info).unwrap_or(Value::Null))
}

/// Inspects the lab once a tick; a failed inspect of a lab that is no
/// longer running ends the view.
fn poll(lab: &Lab, shared: &Shared) {
    loop {
        std::thread::sleep(TICK);
        match inspect(lab) {
            Ok(info) => {
                let state = warren_report::live::state(&shared.topo, &info);
                *shared.state.lock().unwrap_or_else(PoisonError::into_inner) = state;
            }
            Err(_) if Lab::attach(lab.name()).is_err() => {
                shared.gone.store(true, Ordering::SeqCst);
                return;
            }
            Err(_) => {}
        }
    }
}

/// Keeps every event of the run, in order, as the supervisor streams them.
fn follow(lab: &Lab, shared: &Shared) {
    let Ok(events) = lab.events() else {
        return;
    };
    for e in events.flatten() {
        let mut v = json!({ "t": e.t, "event": e.event });
        if let Some(o) = v.as_object_mut() {
            o.extend(e.fields);
        }
        shared
            .events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(v);
    }
}

/// Answers one request: `GET /` the page, `GET /state?since=N` the state
/// with the events from the N-th on.
fn serve(stream: TcpStream, page: &str, shared: &Shared) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut reader = BufReader::new(&stream);
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    // Headers are read and ignored: the answer depends on the path only.
    let mut header = String::new();
    while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
        header.clear();
    }
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let (status, kind, body) = match (method, path) {
        ("GET", "/") => ("200 OK", "text/html; charset=utf-8", page.to_string()),
        ("GET", "/state") => {
            let since = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("since="))
                .and_then(|n| n.parse::<usize>().ok())
                .unwrap_or(0);
            ("200 OK", "application/json", state_json(shared, since))
        }
        ("GET", _) => ("404 Not Found", "text/plain", "not found\n".into()),
        _ => (
            "405 Method Not Allowed",
            "text/plain",
            "the view only reads\n".into(),
        ),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let mut out = &stream;
    let _ = out
        .write_all(head.as_bytes())
        .and_then(|()| out.write_all(body.as_bytes()));
}

fn state_json(shared: &Shared, since: usize) -> String {
    let mut state = shared
        .state
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let events = shared.events.lock().unwrap_or_else(PoisonError::into_inner);
    let new: Vec<Value> = events.iter().skip(since).cloned().collect();
    state["events"] = Value::Array(new);
    state["next"] = json!(events.len().max(since));
    state["gone"] = json!(shared.gone.load(Ordering::SeqCst));
    state.to_string()
}
