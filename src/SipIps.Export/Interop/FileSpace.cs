using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace SipIps.Export.Interop;

/// <summary>
/// Disk space reserved ahead of an appending writer, as journald does for its files: blocks reserved past the end of
/// the file (FALLOC_FL_KEEP_SIZE, so readers still see only what was written) spare the file system its per-page
/// reservation work on every buffered write (ext4's delayed allocation), and <see cref="TrimToSize"/> gives back what
/// was not used.
/// </summary>
internal static partial class FileSpace
{
    private const int KeepSize = 0x01; // FALLOC_FL_KEEP_SIZE

    [LibraryImport("libc.so.6", EntryPoint = "fallocate", SetLastError = true)]
    private static partial int FAllocate(SafeFileHandle fd, int mode, long offset, long length);

    [LibraryImport("libc.so.6", EntryPoint = "ftruncate", SetLastError = true)]
    private static partial int FTruncate(SafeFileHandle fd, long length);

    /// <summary>Reserves <paramref name="length"/> bytes at <paramref name="offset"/> without changing the file's size; false (with errno) when the file system cannot.</summary>
    public static bool Reserve(SafeFileHandle file, long offset, long length, out int errno)
    {
        errno = 0;
        if (!OperatingSystem.IsLinux()) return false;
        if (FAllocate(file, KeepSize, offset, length) == 0) return true;
        errno = Marshal.GetLastPInvokeError();
        return false;
    }

    /// <summary>
    /// Gives back the blocks reserved past the end: a truncate to the size the file has now (read from the file, not
    /// remembered, so that a file truncated by someone else is never extended again).
    /// </summary>
    public static void TrimToSize(SafeFileHandle file)
    {
        if (!OperatingSystem.IsLinux()) return;
        long size = RandomAccess.GetLength(file);
        FTruncate(file, size);
    }
}
