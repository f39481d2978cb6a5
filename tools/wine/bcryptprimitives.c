/* For tests under Wine only, never shipped: Wine 8 (Debian 12) has no
 * bcryptprimitives.dll, whose ProcessPrng Rust's std (1.78 and later) imports
 * for its random numbers; Windows 10 and later have it. This one answers
 * ProcessPrng with Wine's BCryptGenRandom. scripts/windows builds it into the
 * test Wine prefix's system32. */
#include <windows.h>
#include <bcrypt.h>

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    while (len > 0) {
        ULONG chunk = len > 0x10000000 ? 0x10000000 : (ULONG)len;
        if (BCryptGenRandom(NULL, data, chunk, BCRYPT_USE_SYSTEM_PREFERRED_RNG) != 0) {
            return FALSE;
        }
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
