namespace SipIps.Export;

/// <summary>Numbered rotation: PATH becomes PATH.1, PATH.1 becomes PATH.2, ..., and the oldest past the count goes.</summary>
public static class FileRotation
{
    private static long s_removals;

    /// <param name="files">Files kept in all, PATH included; 1 keeps none of the old ones.</param>
    public static void Shift(string path, int files)
    {
        files = Math.Max(1, files);
        string Name(int i) => i == 0 ? path : $"{path}.{i}";
        Remove(Name(files - 1));
        for (int i = files - 2; i >= 0; i--)
            if (File.Exists(Name(i))) File.Move(Name(i), Name(i + 1));
    }

    /// <summary>
    /// Deleting a large log whose pages are still under writeback can wait for the disk, and the writer thread rotates
    /// in the middle of draining its queues. The file is renamed aside at once (a rename does not wait) and deleted on
    /// a pool thread.
    /// </summary>
    private static void Remove(string file)
    {
        if (!File.Exists(file)) return;
        string aside = $"{file}.{Environment.ProcessId}-{Interlocked.Increment(ref s_removals)}.removed";
        try
        {
            File.Move(file, aside);
        }
        catch (IOException)
        {
            File.Delete(file);
            return;
        }
        ThreadPool.UnsafeQueueUserWorkItem(static name =>
        {
            try
            {
                File.Delete(name);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Left behind; the next rotation does not depend on it.
            }
        }, aside, preferLocal: false);
    }
}
