//! The start of the function that holds a code address, from the unwinder's
//! tables: what tells the panic machinery's frames apart from the panic site
//! (`crate::panics`).
//!
//! - ELF (Linux, Android): libgcc's or LLVM's `_Unwind_FindEnclosingFunction`
//!   over `.eh_frame_hdr`, present in stripped builds.
//! - Windows x64: the image's function table (`.pdata`, which SEH unwinding
//!   needs, so always there), through `RtlLookupFunctionEntry`.
//! - Apple: compact unwind tables make `_Unwind_FindEnclosingFunction`
//!   unreliable: the return address itself is the key there. Machinery frames
//!   still match, since each machinery function calls the next from one place.
//!
//! `ip - 1` is looked up: a call to a function that never returns may be the
//! last instruction of its function, and its return address the next one's.

#[cfg(all(unix, not(target_vendor = "apple")))]
pub fn function_start(ip: usize) -> usize {
    extern "C" {
        fn _Unwind_FindEnclosingFunction(pc: *mut std::ffi::c_void) -> *mut std::ffi::c_void;
    }
    // SAFETY: the unwinder (libgcc_s, or LLVM's libunwind on Android) only
    // looks the address up in its tables, accepts any value, and answers NULL
    // when no function contains it.
    let start = unsafe { _Unwind_FindEnclosingFunction(ip.wrapping_sub(1) as *mut std::ffi::c_void) };
    if start.is_null() {
        ip
    } else {
        start as usize
    }
}

#[cfg(all(windows, target_arch = "x86_64"))]
pub fn function_start(ip: usize) -> usize {
    use windows_sys::Win32::System::Diagnostics::Debug::RtlLookupFunctionEntry;
    let mut image_base = 0u64;
    // SAFETY: looks the address up in the loaded images' function tables;
    // any value is accepted, NULL answers an address no table covers (a leaf
    // function, or no image). The entry, when there is one, is read at once,
    // while its image is loaded (it is ours, or a caller's on our stack).
    let start = unsafe {
        let entry = RtlLookupFunctionEntry(ip.wrapping_sub(1) as u64, &mut image_base, std::ptr::null_mut());
        if entry.is_null() {
            return ip;
        }
        image_base + u64::from((*entry).BeginAddress)
    };
    start as usize
}

#[cfg(not(any(all(unix, not(target_vendor = "apple")), all(windows, target_arch = "x86_64"))))]
pub fn function_start(ip: usize) -> usize {
    ip
}
