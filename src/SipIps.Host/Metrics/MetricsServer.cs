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
        return server;
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
