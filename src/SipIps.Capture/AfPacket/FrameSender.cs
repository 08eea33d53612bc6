using System.Buffers.Binary;
using System.Runtime.InteropServices;
using SipIps.Capture.Interop;

namespace SipIps.Capture.AfPacket;

/// <summary>How forwarded frames leave.</summary>
public enum SendMode
{
    /// <summary>One sendto() per frame.</summary>
    SendTo,
    /// <summary>The batch in one sendmmsg().</summary>
    SendMmsg,
}

public struct SendCounters
{
    public long Frames;
    public long Bytes;
    public long Errors;
    public long Retries;
    public int LastErrno;
}

/// <summary>
/// Sends frames out of one port straight from the receive ring of the other: the kernel copies, user space does
/// not. A VLAN tag the receive side took off (offloaded) is put back with a gather write of three pieces, so the
/// frame leaves exactly as it came in. Buffers are native and allocated once.
/// </summary>
public sealed unsafe class FrameSender : IDisposable
{
    private readonly PacketSocket _socket;
    private readonly SendMode _mode;
    private readonly int _capacity;
    private readonly MMsgHdr* _messages;
    private readonly IoVec* _iov;
    private readonly uint* _tags;
    private readonly SockAddrLl* _address;
    private int _queued;
    private SendCounters _counters;

    public FrameSender(PacketSocket socket, SendMode mode, int batch = 64)
    {
        _socket = socket;
        _mode = mode;
        _capacity = batch;
        _messages = (MMsgHdr*)NativeMemory.AllocZeroed((nuint)(batch * sizeof(MMsgHdr)));
        _iov = (IoVec*)NativeMemory.AllocZeroed((nuint)(batch * 3 * sizeof(IoVec)));
        _tags = (uint*)NativeMemory.AllocZeroed((nuint)(batch * sizeof(uint)));
        _address = (SockAddrLl*)NativeMemory.AllocZeroed((nuint)sizeof(SockAddrLl));
        _address->Family = Af.Packet;
        _address->IfIndex = socket.IfIndex;
        _address->Protocol = EtherProtocol.AllNetworkOrder;
    }

    public ref readonly SendCounters Counters => ref _counters;
    public int Queued => _queued;
    public bool Full => _queued == _capacity;

    /// <summary>Queues a frame (sendmmsg) or sends it now (sendto). The frame must stay valid until <see cref="Flush"/>.</summary>
    public void Add(in RxFrame frame)
    {
        int i = _queued;
        var iov = _iov + i * 3;
        int pieces;
        if (frame.HasVlan && frame.Length >= 12)
        {
            uint tag = ((uint)frame.VlanTpid << 16) | frame.VlanTci;
            _tags[i] = BinaryPrimitives.ReverseEndianness(tag);
            iov[0] = new IoVec { Base = frame.Data, Length = 12 };
            iov[1] = new IoVec { Base = _tags + i, Length = 4 };
            iov[2] = new IoVec { Base = frame.Data + 12, Length = (nuint)(frame.Length - 12) };
            pieces = 3;
        }
        else
        {
            iov[0] = new IoVec { Base = frame.Data, Length = (nuint)frame.Length };
            pieces = 1;
        }
        ref MsgHdr h = ref _messages[i].Header;
        h.Name = _address;
        h.NameLength = (uint)sizeof(SockAddrLl);
        h.Iov = iov;
        h.IovLength = (nuint)pieces;
        _messages[i].Length = 0;
        _queued++;
        if (_mode == SendMode.SendTo || _queued == _capacity) Flush();
    }

    /// <summary>Sends what is queued. A full socket buffer is retried briefly; other errors are counted.</summary>
    public void Flush()
    {
        int start = 0;
        int retries = 0;
        while (start < _queued)
        {
            int sent;
            if (_mode == SendMode.SendMmsg)
            {
                sent = Libc.SendMMsg(_socket.Fd, _messages + start, (uint)(_queued - start), 0);
            }
            else
            {
                sent = Libc.SendMsg(_socket.Fd, &_messages[start].Header, 0) >= 0 ? 1 : -1;
            }
            if (sent > 0)
            {
                for (int k = start; k < start + sent; k++)
                {
                    var h = _messages[k].Header;
                    nuint bytes = 0;
                    for (nuint p = 0; p < h.IovLength; p++) bytes += h.Iov[p].Length;
                    _counters.Bytes += (long)bytes;
                }
                _counters.Frames += sent;
                start += sent;
                continue;
            }
            int errno = Libc.LastError;
            if ((errno == Errno.ENOBUFS || errno == Errno.EAGAIN || errno == Errno.EINTR) && retries++ < 64)
            {
                _counters.Retries++;
                Thread.SpinWait(64);
                continue;
            }
            // This frame cannot go (link down, too big): count it and carry on with the rest.
            _counters.Errors++;
            _counters.LastErrno = errno;
            start++;
        }
        _queued = 0;
    }

    public void Dispose()
    {
        NativeMemory.Free(_messages);
        NativeMemory.Free(_iov);
        NativeMemory.Free(_tags);
        NativeMemory.Free(_address);
    }
}
