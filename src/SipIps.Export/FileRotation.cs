namespace SipIps.Export;

/// <summary>Numbered rotation: PATH becomes PATH.1, PATH.1 becomes PATH.2, ..., and the oldest past the count goes.</summary>
public static class FileRotation
{
    /// <param name="files">Files kept in all, PATH included; 1 keeps none of the old ones.</param>
    public static void Shift(string path, int files)
    {
        files = Math.Max(1, files);
        if (files == 1)
        {
            File.Delete(path);
            return;
        }
        string Name(int i) => i == 0 ? path : $"{path}.{i}";
        if (File.Exists(Name(files - 1))) File.Delete(Name(files - 1));
        for (int i = files - 2; i >= 0; i--)
            if (File.Exists(Name(i))) File.Move(Name(i), Name(i + 1));
    }
}
