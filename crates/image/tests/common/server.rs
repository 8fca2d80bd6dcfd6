//! A tiny registry on 127.0.0.1 for tests that need what Distribution
//! cannot easily do: demand basic or bearer auth, cut a blob short, serve
//! a corrupt blob. One thread per connection, `Connection: close`.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use warren_image::Digest;

/// What the server demands.
#[derive(Debug, Clone)]
pub enum Auth {
    /// Nothing.
    None,
    /// HTTP basic with this user and password.
    Basic(String, String),
    /// A bearer token from `/token`, which itself wants basic auth with
    /// these credentials (or none, when `None`).
    Bearer(Option<(String, String)>),
}

/// A fault to inject into blob responses.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Serve everything correctly.
    None,
    /// Send the full Content-Length but only this many bytes, then close.
    Truncate(usize),
    /// Flip a byte of every layer blob.
    Corrupt,
    /// Send a wrong Docker-Content-Digest for manifests.
    WrongManifestDigest,
}

/// A one-layer image built in memory.
pub struct TestImage {
    /// The manifest bytes.
    pub manifest: Vec<u8>,
    /// The manifest digest.
    pub digest: Digest,
    /// The layer blob digest.
    pub layer: Digest,
}

struct State {
    auth: Auth,
    fault: Mutex<Fault>,
    manifests: HashMap<String, (String, Vec<u8>)>,
    blobs: HashMap<String, Vec<u8>>,
    log: Mutex<Vec<String>>,
}

/// The running server.
pub struct Server {
    /// `127.0.0.1:PORT`.
    pub addr: String,
    state: Arc<State>,
}

const TOKEN: &str = "s3cr3t-token";

/// Builds a gzip layer holding `files`, its config and OCI manifest.
pub fn image(files: &[(&str, &[u8])]) -> (TestImage, HashMap<String, Vec<u8>>) {
    image_layers(&[files])
}

/// Builds an image with one gzip layer per element of `layers`, lowest first.
pub fn image_layers(layers: &[&[(&str, &[u8])]]) -> (TestImage, HashMap<String, Vec<u8>>) {
    let mut blobs = HashMap::new();
    let mut diff_ids = Vec::new();
    let mut descs = Vec::new();
    for files in layers {
        let mut b = tar::Builder::new(Vec::new());
        for (p, data) in *files {
            let mut h = tar::Header::new_gnu();
            h.set_path(p).unwrap();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append(&h, *data).unwrap();
        }
        let tar = b.into_inner().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).unwrap();
        let layer = gz.finish().unwrap();
        diff_ids.push(format!("\"{}\"", Digest::of(&tar)));
        descs.push(format!(
            r#"{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{}","size":{}}}"#,
            Digest::of(&layer),
            layer.len()
        ));
        blobs.insert(Digest::of(&layer).to_string(), layer);
    }
    let p = warren_image::Platform::host();
    let config = format!(
        r#"{{"architecture":"{}","os":"linux","config":{{"Cmd":["/hello"]}},"rootfs":{{"type":"layers","diff_ids":[{}]}}}}"#,
        p.architecture,
        diff_ids.join(",")
    )
    .into_bytes();
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":{}}},"layers":[{}]}}"#,
        Digest::of(&config),
        config.len(),
        descs.join(",")
    )
    .into_bytes();
    let first_layer = blobs
        .keys()
        .next()
        .map(|k| k.parse().unwrap())
        .unwrap_or_else(|| Digest::of(b""));
    let img = TestImage {
        digest: Digest::of(&manifest),
        layer: first_layer,
        manifest,
    };
    blobs.insert(Digest::of(&config).to_string(), config);
    (img, blobs)
}

impl Server {
    /// Serves `img` as `test/app:v1` with `auth`.
    pub fn start(auth: Auth, img: &TestImage, blobs: HashMap<String, Vec<u8>>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let mut manifests = HashMap::new();
        let m = (
            "application/vnd.oci.image.manifest.v1+json".to_owned(),
            img.manifest.clone(),
        );
        manifests.insert("test/app:v1".to_owned(), m.clone());
        manifests.insert(format!("test/app:{}", img.digest), m);
        let state = Arc::new(State {
            auth,
            fault: Mutex::new(Fault::None),
            manifests,
            blobs,
            log: Mutex::new(Vec::new()),
        });
        let st = state.clone();
        let a = addr.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let st = st.clone();
                let a = a.clone();
                std::thread::spawn(move || {
                    let _ = handle(conn, &st, &a);
                });
            }
        });
        Server { addr, state }
    }

    /// Sets the fault for following requests.
    pub fn fault(&self, f: Fault) {
        *self.state.fault.lock().unwrap() = f;
    }

    /// Request lines seen so far, with the Authorization scheme used.
    pub fn log(&self) -> Vec<String> {
        self.state.log.lock().unwrap().clone()
    }
}

fn basic(user: &str, pass: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
    )
}

fn respond(
    s: &mut TcpStream,
    status: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> std::io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {status}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes())?;
    s.write_all(body)
}

fn handle(mut conn: TcpStream, st: &State, addr: &str) -> std::io::Result<()> {
    let mut r = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    r.read_line(&mut line)?;
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let mut auth = None;
    loop {
        let mut h = String::new();
        if r.read_line(&mut h)? == 0 || h == "\r\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':')
            && k.eq_ignore_ascii_case("authorization")
        {
            auth = Some(v.trim().to_owned());
        }
    }
    st.log.lock().unwrap().push(format!(
        "{path} auth={}",
        auth.as_deref()
            .and_then(|a| a.split(' ').next())
            .unwrap_or("-")
    ));
    let (path, query) = path.split_once('?').unwrap_or((&path, ""));

    if path == "/token" {
        let ok = match &st.auth {
            Auth::Bearer(Some((u, p))) => auth.as_deref() == Some(&basic(u, p)),
            Auth::Bearer(None) => true,
            _ => false,
        };
        assert!(
            query.contains("scope=repository%3Atest%2Fapp%3Apull"),
            "scope sent: {query}"
        );
        return if ok {
            respond(
                &mut conn,
                "200 OK",
                &[],
                format!(r#"{{"token":"{TOKEN}"}}"#).as_bytes(),
            )
        } else {
            respond(&mut conn, "401 Unauthorized", &[], b"{}")
        };
    }
    let challenge = match &st.auth {
        Auth::None => None,
        Auth::Basic(u, p) => (auth.as_deref() != Some(&basic(u, p)))
            .then(|| r#"Basic realm="test""#.to_owned()),
        Auth::Bearer(_) => (auth.as_deref() != Some(&format!("Bearer {TOKEN}"))).then(|| {
            format!(r#"Bearer realm="http://{addr}/token",service="test",scope="repository:test/app:pull""#)
        }),
    };
    if let Some(c) = challenge {
        return respond(
            &mut conn,
            "401 Unauthorized",
            &[("WWW-Authenticate".into(), c)],
            br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
        );
    }
    let fault = st.fault.lock().unwrap().clone();
    if let Some(rest) = path.strip_prefix("/v2/test/app/manifests/") {
        let Some((ct, body)) = st.manifests.get(&format!("test/app:{rest}")) else {
            return respond(
                &mut conn,
                "404 Not Found",
                &[],
                br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#,
            );
        };
        let digest = if fault == Fault::WrongManifestDigest {
            Digest::of(b"wrong").to_string()
        } else {
            Digest::of(body).to_string()
        };
        return respond(
            &mut conn,
            "200 OK",
            &[
                ("Content-Type".into(), ct.clone()),
                ("Docker-Content-Digest".into(), digest),
            ],
            body,
        );
    }
    if let Some(d) = path.strip_prefix("/v2/test/app/blobs/") {
        let Some(body) = st.blobs.get(d) else {
            return respond(&mut conn, "404 Not Found", &[], b"{}");
        };
        let is_layer = body.starts_with(&[0x1f, 0x8b]);
        match fault {
            Fault::Truncate(n) if is_layer => {
                let head = format!(
                    "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                );
                conn.write_all(head.as_bytes())?;
                conn.write_all(&body[..n.min(body.len())])?;
                conn.flush()?;
                return conn.shutdown(std::net::Shutdown::Both);
            }
            Fault::Corrupt if is_layer => {
                let mut b = body.clone();
                let last = b.len() - 1;
                b[last] ^= 0xff;
                return respond(&mut conn, "200 OK", &[], &b);
            }
            _ => return respond(&mut conn, "200 OK", &[], body),
        }
    }
    respond(&mut conn, "200 OK", &[], b"{}")
}
