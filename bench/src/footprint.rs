//! Memory and size: the release binary's peak resident memory across a full Create,
//! Update and Delete in hub mode (`VmHWM` read from `/proc` before the process is
//! stopped), its resident memory once initialised, the binary's size and the size of the
//! Lambda deployment zip (`bootstrap` alone, deflated, as `cargo lambda build
//! --output-format zip` packs it).

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use serde::Serialize;
use serde_json::json;

use crate::{
    lab::{Lab, LabOptions, Result, ci_role_properties},
    stats::{Summary, memory, mib},
};

/// How memory and size are measured.
#[derive(Debug, Clone)]
pub struct FootprintOptions {
    /// Processes, each serving one Create, Update and Delete.
    pub runs: usize,
    /// A Python to build the zip with (its standard `zipfile`).
    pub python: PathBuf,
    /// The arm64 `bootstrap`, when one could be built.
    pub arm64_binary: Option<PathBuf>,
    /// Why there is no arm64 binary, when there is none.
    pub arm64_missing: Option<String>,
}

/// The figures.
#[derive(Debug, Clone, Serialize)]
pub struct Footprint {
    /// Processes measured.
    pub runs: usize,
    /// Resident memory once initialised, before the first event (MiB).
    pub idle_rss_mib: Summary,
    /// Peak resident memory (`VmHWM`) after Create, Update and Delete (MiB).
    pub peak_rss_mib: Summary,
    /// The x86_64 release binary.
    pub x86_64: Artifact,
    /// The arm64 release binary, when it could be built here.
    pub arm64: Option<Artifact>,
    /// What stands in for the arm64 zip when it could not be built.
    pub arm64_note: Option<String>,
}

/// A binary and its deployment zip.
#[derive(Debug, Clone, Serialize)]
pub struct Artifact {
    /// The binary's path.
    pub path: String,
    /// The machine its ELF header names (`x86_64`, `aarch64`, …).
    pub machine: String,
    /// Its size in bytes.
    pub binary_bytes: u64,
    /// The zip's size in bytes.
    pub zip_bytes: u64,
}

/// Measures `binary` (the x86_64 release build) and sizes the artifacts.
pub async fn run(binary: &Path, options: &FootprintOptions) -> Result<Footprint> {
    let lab = Lab::start(&LabOptions::default()).await?;
    let account = lab.members[0].id.clone();
    let (mut idle, mut peak) = (Vec::new(), Vec::new());
    for run in 0..options.runs {
        let polls = lab.runtime.next_polls();
        let mut process = lab.spawn(binary)?;
        if !lab
            .runtime
            .wait_for_polls(polls + 1, Duration::from_secs(30))
            .await
        {
            return Err("the factory never polled".into());
        }
        let pid = process.id().ok_or("the factory exited")?;
        idle.push(mib(memory(pid).ok_or("no /proc status")?.rss_kib));

        let properties = ci_role_properties(&account, &format!("footprint-{run}"));
        let mut resource = lab
            .resource(0, &format!("footprint-{run}"), "CiRole", properties.clone())
            .await?;
        let (create, id) = lab.create_event(&resource);
        let (created, _) = lab.send(&create, &id).await?;
        let physical_id = success(&created)?;
        let mut changed = properties.clone();
        changed["Description"] = json!("changed in place");
        changed["FederatedCredentials"]
            .as_array_mut()
            .ok_or("a list")?
            .push(json!({
                "Name": "github-production",
                "Issuer": "https://token.actions.githubusercontent.com",
                "Subject": format!("repo:contoso/footprint-{run}:environment:production")
            }));
        resource.properties = changed;
        let (update, id) = lab
            .update_event(&resource, &physical_id, &properties)
            .await?;
        success(&lab.send(&update, &id).await?.0)?;
        let (delete, id) = lab.delete_event(&resource, &physical_id).await?;
        success(&lab.send(&delete, &id).await?.0)?;

        peak.push(mib(memory(pid).ok_or("no /proc status")?.peak_kib));
        process.kill().await;
    }
    let x86_64 = artifact(binary, &options.python).await?;
    let arm64 = match &options.arm64_binary {
        Some(path) => {
            let arm64 = artifact(path, &options.python).await?;
            if arm64.machine != "aarch64" {
                return Err(
                    format!("{} is an {} binary, not arm64", arm64.path, arm64.machine).into(),
                );
            }
            Some(arm64)
        }
        None => None,
    };
    Ok(Footprint {
        runs: options.runs,
        idle_rss_mib: Summary::of(&idle),
        peak_rss_mib: Summary::of(&peak),
        x86_64,
        arm64_note: arm64.is_none().then(|| {
            format!(
                "{}; the x86_64 zip stands in for it",
                options
                    .arm64_missing
                    .as_deref()
                    .unwrap_or("no arm64 binary was built")
            )
        }),
        arm64,
    })
}

/// The physical id of a SUCCESS answer, or the reason of a FAILED one as an error.
pub fn success(body: &serde_json::Value) -> Result<String> {
    if body["Status"] != "SUCCESS" {
        return Err(format!("FAILED: {}", body["Reason"]).into());
    }
    Ok(body["PhysicalResourceId"]
        .as_str()
        .ok_or("no PhysicalResourceId")?
        .to_owned())
}

/// The binary's size and that of a Lambda zip holding it as `bootstrap` (mode 755,
/// deflated at zlib's default level).
async fn artifact(binary: &Path, python: &Path) -> Result<Artifact> {
    let binary_bytes = std::fs::metadata(binary)?.len();
    let machine = elf_machine(binary)?;
    let zip = std::env::temp_dir().join(format!(
        "efr-bench-{}-{}.zip",
        std::process::id(),
        fastrand::u32(..)
    ));
    let script = "import sys, zipfile\n\
                  info = zipfile.ZipInfo('bootstrap', date_time=(2026, 1, 1, 0, 0, 0))\n\
                  info.external_attr = 0o100755 << 16\n\
                  info.compress_type = zipfile.ZIP_DEFLATED\n\
                  with zipfile.ZipFile(sys.argv[2], 'w') as z, open(sys.argv[1], 'rb') as f:\n\
                  \x20   z.writestr(info, f.read())\n";
    let status = tokio::process::Command::new(python)
        .arg("-c")
        .arg(script)
        .arg(binary)
        .arg(&zip)
        .status()
        .await?;
    if !status.success() {
        return Err(format!("zipping {} failed", binary.display()).into());
    }
    let zip_bytes = std::fs::metadata(&zip)?.len();
    let _ = std::fs::remove_file(&zip);
    let root = entra_federated_role_harness::moto::workspace_root();
    Ok(Artifact {
        path: binary
            .strip_prefix(&root)
            .unwrap_or(binary)
            .display()
            .to_string(),
        machine,
        binary_bytes,
        zip_bytes,
    })
}

/// The `e_machine` of an ELF file's header.
fn elf_machine(binary: &Path) -> Result<String> {
    use std::io::Read as _;
    let mut header = [0u8; 20];
    std::fs::File::open(binary)?.read_exact(&mut header)?;
    if &header[..4] != b"\x7fELF" {
        return Err(format!("{} is not an ELF binary", binary.display()).into());
    }
    let machine = if header[5] == 2 {
        u16::from_be_bytes([header[18], header[19]])
    } else {
        u16::from_le_bytes([header[18], header[19]])
    };
    Ok(match machine {
        0x3e => "x86_64".to_owned(),
        0xb7 => "aarch64".to_owned(),
        other => format!("ELF machine {other:#x}"),
    })
}
