using System.Net;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using SipIps.Export.Metrics;

namespace SipIps.Host.Metrics;

/// <summary>
/// Serves <c>GET /metrics</c> (the Prometheus text format) with Kestrel from the shared framework. The page is built on
/// the request thread from counters the workers write; scrapes never touch the packet path.
/// </summary>
internal sealed class MetricsServer : IDisposable
{
    private readonly WebApplication _app;

    private MetricsServer(WebApplication app) => _app = app;

    public IPEndPoint Endpoint { get; private set; } = new(IPAddress.Loopback, 0);
    public long Scrapes;

    /// <summary>Starts listening; throws <see cref="IOException"/> when the address cannot be bound.</summary>
    public static MetricsServer Start(IPEndPoint endpoint, Func<string> render)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory, Args = [] });
        builder.Logging.ClearProviders();
        // SipIps owns SIGTERM and SIGINT; the web host must not stop the process on its own.
        builder.Services.AddSingleton<IHostLifetime, PassiveLifetime>();
        builder.WebHost.ConfigureKestrel(o =>
        {
            o.AddServerHeader = false;
            o.Limits.MaxConcurrentConnections = 64;
            o.Limits.MaxRequestHeadersTotalSize = 16 * 1024;
            o.Listen(endpoint);
        });
        var app = builder.Build();
        var server = new MetricsServer(app);
        app.Run(context => server.Handle(context, render));
        try
        {
            app.StartAsync().GetAwaiter().GetResult();
        }
        catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or InvalidOperationException)
        {
            app.DisposeAsync().AsTask().GetAwaiter().GetResult();
            throw new IOException($"cannot serve metrics on {endpoint}: {e.Message}", e);
        }
        server.Endpoint = endpoint;
        Warm(endpoint, render);
        return server;
    }

    /// <summary>
    /// Serves one request to itself and renders the page once, so that the code of both is compiled now and not at
    /// the first scrape: measured at 170,000 frames/s on one worker's core, compiling it then stopped forwarding for
    /// about 60 ms (the ring overflowed, 10,000 frames lost). Failures are ignored: this only moves work earlier.
    /// </summary>
    private static void Warm(IPEndPoint endpoint, Func<string> render)
    {
        _ = render();
        var target = new IPEndPoint(endpoint.Address.Equals(IPAddress.Any) ? IPAddress.Loopback
            : endpoint.Address.Equals(IPAddress.IPv6Any) ? IPAddress.IPv6Loopback : endpoint.Address, endpoint.Port);
        try
        {
            using var socket = new System.Net.Sockets.Socket(target.AddressFamily, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
            socket.SendTimeout = socket.ReceiveTimeout = 2000;
            socket.Connect(target);
            socket.Send("GET / HTTP/1.1\r\nHost: sipips\r\nConnection: close\r\n\r\n"u8);
            var buffer = new byte[1024];
            while (socket.Receive(buffer) > 0)
            {
            }
        }
        catch (System.Net.Sockets.SocketException)
        {
        }
    }

    private Task Handle(HttpContext context, Func<string> render)
    {
        var request = context.Request;
        var response = context.Response;
        if (request.Path == "/metrics" && (HttpMethods.IsGet(request.Method) || HttpMethods.IsHead(request.Method)))
        {
            Interlocked.Increment(ref Scrapes);
            response.ContentType = PromText.ContentType;
            response.Headers.CacheControl = "no-store";
            return HttpMethods.IsHead(request.Method) ? Task.CompletedTask : response.WriteAsync(render(), Encoding.UTF8);
        }
        if (request.Path == "/" && HttpMethods.IsGet(request.Method))
        {
            response.ContentType = "text/plain; charset=utf-8";
            return response.WriteAsync("SipIps: metrics at /metrics\n");
        }
        response.StatusCode = request.Path == "/metrics" ? StatusCodes.Status405MethodNotAllowed : StatusCodes.Status404NotFound;
        return Task.CompletedTask;
    }

    public void Dispose()
    {
        try
        {
            _app.StopAsync(TimeSpan.FromSeconds(2)).GetAwaiter().GetResult();
        }
        catch (OperationCanceledException)
        {
        }
        _app.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }

    private sealed class PassiveLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;
        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
