namespace SipIps.Engine.Sip;

/// <summary>SIP methods known to the engine. Anything else is <see cref="Unknown"/> and keeps its text.</summary>
public enum SipMethod : byte
{
    Unknown = 0,
    Invite,
    Ack,
    Bye,
    Cancel,
    Register,
    Options,
    Prack,
    Subscribe,
    Notify,
    Publish,
    Info,
    Refer,
    Message,
    Update,
}

/// <summary>Method recognition by length and exact (case-sensitive) bytes: SIP methods are case-sensitive.</summary>
public static class SipMethods
{
    public const int Count = (int)SipMethod.Update + 1;

    private static readonly string[] s_names =
    [
        "UNKNOWN", "INVITE", "ACK", "BYE", "CANCEL", "REGISTER", "OPTIONS", "PRACK", "SUBSCRIBE", "NOTIFY", "PUBLISH",
        "INFO", "REFER", "MESSAGE", "UPDATE",
    ];

    public static string Name(SipMethod method) => s_names[(int)method];

    public static SipMethod Parse(ReadOnlySpan<byte> token)
    {
        switch (token.Length)
        {
            case 3:
                if (token.SequenceEqual("ACK"u8)) return SipMethod.Ack;
                if (token.SequenceEqual("BYE"u8)) return SipMethod.Bye;
                break;
            case 4:
                if (token.SequenceEqual("INFO"u8)) return SipMethod.Info;
                break;
            case 5:
                if (token.SequenceEqual("PRACK"u8)) return SipMethod.Prack;
                if (token.SequenceEqual("REFER"u8)) return SipMethod.Refer;
                break;
            case 6:
                if (token.SequenceEqual("INVITE"u8)) return SipMethod.Invite;
                if (token.SequenceEqual("CANCEL"u8)) return SipMethod.Cancel;
                if (token.SequenceEqual("NOTIFY"u8)) return SipMethod.Notify;
                if (token.SequenceEqual("UPDATE"u8)) return SipMethod.Update;
                break;
            case 7:
                if (token.SequenceEqual("OPTIONS"u8)) return SipMethod.Options;
                if (token.SequenceEqual("PUBLISH"u8)) return SipMethod.Publish;
                if (token.SequenceEqual("MESSAGE"u8)) return SipMethod.Message;
                break;
            case 8:
                if (token.SequenceEqual("REGISTER"u8)) return SipMethod.Register;
                break;
            case 9:
                if (token.SequenceEqual("SUBSCRIBE"u8)) return SipMethod.Subscribe;
                break;
        }
        return SipMethod.Unknown;
    }
}
