//! How the process's allocator keeps freed memory. glibc's malloc serves large blocks from
//! fresh `mmap`s and hands the top of its heap back to the kernel once more than a little is
//! free there; a broker, connector or plugin runner frees and reallocates buffers of a few
//! hundred KiB to a few MiB (requests, fetch responses, batches) all the time, so each new
//! one faults its pages in again — on a virtual machine several microseconds a page, more
//! than the copy into it. Raising both thresholds keeps that memory in the heap for the next
//! buffer, as a JVM's heap does for Kafka. The price is memory held: up to the trim threshold
//! of free heap per glibc arena (the brokers in the benches peaked at the same 58-71 MiB
//! either way). An operator's own `GLIBC_TUNABLES` malloc settings or `MALLOC_*_THRESHOLD_`
//! variables win: with any of them set, nothing is changed here.

/// Blocks below this come from the heap (glibc's own adaptive threshold stops at 32 MiB too).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: i32 = 32 << 20;
/// Free memory at the heap's top is given back only beyond this.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TRIM_THRESHOLD: i32 = 128 << 20;

/// Sets the thresholds; call before any other thread starts. Elsewhere than glibc, or when
/// the environment tunes malloc, nothing.
#[allow(unsafe_code)]
pub(crate) fn keep_freed_memory() {
    let tuned = |name: &str| std::env::var_os(name).is_some();
    let tunables = std::env::var("GLIBC_TUNABLES").unwrap_or_default();
    if tunables.contains("glibc.malloc.")
        || tuned("MALLOC_MMAP_THRESHOLD_")
        || tuned("MALLOC_TRIM_THRESHOLD_")
    {
        return;
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters, takes plain integers and touches no
    // memory of ours; it runs first thing in main, before any thread that allocates exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
    }
}
