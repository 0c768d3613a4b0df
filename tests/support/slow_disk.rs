//! A slow disk for one process, for real: a cgroup v1 `blkio` group that throttles writes to
//! the device holding a directory (`blkio.throttle.write_iops_device` and
//! `write_bps_device`). A broker moved into it gets its writes and fsyncs through at that
//! rate; dropping the [`SlowDisk`] (also when a test panics) moves it back to the group it
//! came from and removes the throttled one. Needs root and the `blkio` controller mounted at
//! `/sys/fs/cgroup/blkio`; [`require_blkio`] fails a test saying so otherwise.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

const BLKIO: &str = "/sys/fs/cgroup/blkio";

/// Fails the test unless cgroup v1 `blkio` throttling is there to use.
pub fn require_blkio() {
    let control = Path::new(BLKIO).join("blkio.throttle.write_iops_device");
    assert!(
        control.exists(),
        "this test needs cgroup v1 blkio throttling ({} is missing) to slow a broker's disk: \
         run it as root on a host with the blkio controller mounted at {BLKIO}",
        control.display()
    );
}

/// A throttled blkio group holding one process until dropped.
pub struct SlowDisk {
    /// The throttled group.
    group: PathBuf,
    /// The group the process was in, where it goes back.
    home: PathBuf,
    pid: u32,
}

impl SlowDisk {
    /// Moves process `pid` into a new group whose writes to the device of `dir` are limited
    /// to `write_iops` operations and `write_bps` bytes per second.
    pub fn throttle(pid: u32, dir: &Path, write_iops: u32, write_bps: u64) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let (major, minor) = disk_of(dir);
        let home = blkio_group_of(pid);
        let name = format!(
            "weir-slow-disk-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let group = home.join(name);
        std::fs::create_dir(&group)
            .unwrap_or_else(|e| panic!("creating the blkio group {}: {e}", group.display()));
        // From here on, dropping removes the group whatever fails next.
        let slow = Self { group, home, pid };
        slow.write(
            "blkio.throttle.write_iops_device",
            &format!("{major}:{minor} {write_iops}"),
        );
        slow.write(
            "blkio.throttle.write_bps_device",
            &format!("{major}:{minor} {write_bps}"),
        );
        slow.write("cgroup.procs", &pid.to_string());
        slow
    }

    /// How many write operations of the process went through the throttle so far.
    pub fn writes(&self) -> u64 {
        let stats = std::fs::read_to_string(self.group.join("blkio.throttle.io_serviced"))
            .unwrap_or_default();
        // Lines are `MAJOR:MINOR Read|Write|Sync|Async|Discard|Total N`, then `Total N`.
        stats
            .lines()
            .filter_map(|line| {
                let mut fields = line.split_whitespace();
                let (_, kind, n) = (fields.next()?, fields.next()?, fields.next()?);
                (kind == "Write").then(|| n.parse::<u64>().ok()).flatten()
            })
            .sum()
    }

    fn write(&self, file: &str, value: &str) {
        let path = self.group.join(file);
        std::fs::write(&path, value)
            .unwrap_or_else(|e| panic!("writing {value:?} to {}: {e}", path.display()));
    }
}

impl Drop for SlowDisk {
    fn drop(&mut self) {
        // The process may have exited meanwhile: then there is nothing to move back.
        let procs = std::fs::read_to_string(self.group.join("cgroup.procs")).unwrap_or_default();
        for pid in procs.lines() {
            if let Err(e) = std::fs::write(self.home.join("cgroup.procs"), pid) {
                eprintln!("moving {pid} back out of {}: {e}", self.group.display());
            }
        }
        if let Err(e) = std::fs::remove_dir(&self.group) {
            eprintln!(
                "removing the blkio group {} (process {}): {e}",
                self.group.display(),
                self.pid
            );
        }
    }
}

/// The blkio group directory process `pid` is in now.
fn blkio_group_of(pid: u32) -> PathBuf {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .unwrap_or_else(|e| panic!("reading the cgroups of process {pid}: {e}"));
    // Lines are `ID:CONTROLLERS:PATH`; the blkio one names the group under the mount.
    let path = text
        .lines()
        .find_map(|line| {
            let mut fields = line.splitn(3, ':');
            let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
            controllers.split(',').any(|c| c == "blkio").then_some(path)
        })
        .unwrap_or_else(|| panic!("process {pid} is in no blkio cgroup (cgroup v1 needed)"));
    Path::new(BLKIO).join(path.trim_start_matches('/'))
}

/// The `MAJOR:MINOR` of the whole disk `dir` is on (throttling takes disks, not partitions).
fn disk_of(dir: &Path) -> (u32, u32) {
    use std::os::unix::fs::MetadataExt as _;
    let dev = std::fs::metadata(dir)
        .unwrap_or_else(|e| panic!("stat {}: {e}", dir.display()))
        .dev();
    // The Linux encoding of a device number (glibc's `gnu_dev_major`/`gnu_dev_minor`).
    let major = (((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0x0000_0fff)) as u32;
    let minor = (((dev >> 12) & 0xffff_ff00) | (dev & 0x0000_00ff)) as u32;
    assert!(
        major != 0,
        "{} is on a device without a disk ({major}:{minor}, tmpfs or overlay?): its writes \
         cannot be throttled",
        dir.display()
    );
    let sys = PathBuf::from(format!("/sys/dev/block/{major}:{minor}"));
    if !sys.join("partition").exists() {
        return (major, minor);
    }
    // A partition: its directory sits in the disk's, whose `dev` says `MAJOR:MINOR`.
    let disk = std::fs::read_to_string(sys.join("../dev"))
        .unwrap_or_else(|e| panic!("the disk of partition {major}:{minor}: {e}"));
    let (major, minor) = disk
        .trim()
        .split_once(':')
        .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
        .unwrap_or_else(|| panic!("the disk of partition {major}:{minor}: {disk:?}"));
    (major, minor)
}
