//! How the process's allocator keeps freed memory. glibc's malloc serves large blocks from
//! fresh `mmap`s and hands the top of its heap back to the kernel once more than a little is
//! free there; a broker, connector or plugin runner frees and reallocates buffers of a few
//! hundred KiB to a few MiB (requests, fetch responses, batches) all the time, so each new
//! one faults its pages in again — on a virtual machine several microseconds a page, more
//! than the copy into it. Raising both thresholds keeps that memory in the heap for the next
//! buffer, as a JVM's heap does for Kafka.

/// Blocks below this come from the heap (glibc's own adaptive threshold stops at 32 MiB too).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: i32 = 32 << 20;
/// Free memory at the heap's top is given back only beyond this.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TRIM_THRESHOLD: i32 = 128 << 20;

/// Sets the thresholds; call before any other thread starts. Elsewhere than glibc, nothing.
#[allow(unsafe_code)]
pub(crate) fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters, takes plain integers and touches no
    // memory of ours; it runs first thing in main, before any thread that allocates exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
    }
}
