#Requires -Version 5.1
# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# octopus.ha probe: http-endpoint
#
# Run by ansible.windows.win_powershell from the octopus.ha.node_verify role ON the new Octopus
# Server node. For every external feed and cloud endpoint it sends one GET with NORMAL certificate
# validation (the machine's trusted roots, host name check, revocation as configured) over TLS 1.2 or
# later, using the system proxy like Octopus Server does. Any HTTP answer (also 401, 403 or 404: the
# feed needs credentials or the path is an API root) proves the endpoint is reachable; DNS, TCP,
# timeout, proxy and TLS trust errors do not.
#
# The protocols are set on this HttpClientHandler only; [Net.ServicePointManager] is not touched.
#
# Output ($Ansible.Result.endpoints): @{ uri; reachable; status_code; error; elapsed_ms }

[CmdletBinding()]
param (
    # Each item: @{ name = 'nuget.org'; uri = 'https://api.nuget.org/v3/index.json' }
    [Parameter(Mandatory = $true)]
    [AllowEmptyCollection()]
    [object[]]
    $Endpoints,

    [ValidateRange(1, 300)]
    [int]
    $TimeoutSeconds = 10
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 2.0

Add-Type -AssemblyName System.Net.Http

$handler = [System.Net.Http.HttpClientHandler]::new()
# TLS 1.3 (value 12288) only where Schannel offers it (Windows Server 2022 / build 20348 and later);
# asking older builds for it makes the handshake fail.
$protocols = [System.Security.Authentication.SslProtocols]::Tls12
if ([Environment]::OSVersion.Version.Build -ge 20348) {
    $protocols = $protocols -bor [System.Security.Authentication.SslProtocols]12288
}
if ($handler.PSObject.Properties.Name -contains 'SslProtocols') {
    $handler.SslProtocols = $protocols
}
# Without the property (.NET Framework before 4.7.1) the system default protocols apply; Octopus
# Server itself requires a newer framework, so this only matters for an unsupported node.
$handler.AllowAutoRedirect = $true
$handler.UseDefaultCredentials = $false
$client = [System.Net.Http.HttpClient]::new($handler)
$client.Timeout = [TimeSpan]::FromSeconds($TimeoutSeconds)
$client.DefaultRequestHeaders.UserAgent.ParseAdd('octopus.ha-node-verify')

$results = [System.Collections.Generic.List[object]]::new()
try {
    foreach ($endpoint in $Endpoints) {
        $uri = [string]$endpoint.uri
        $entry = @{
            uri         = $uri
            reachable   = $false
            status_code = $null
            error       = $null
            elapsed_ms  = 0
        }
        $watch = [System.Diagnostics.Stopwatch]::StartNew()
        try {
            $request = [System.Net.Http.HttpRequestMessage]::new([System.Net.Http.HttpMethod]::Get, $uri)
            $response = $client.SendAsync($request, [System.Net.Http.HttpCompletionOption]::ResponseHeadersRead).GetAwaiter().GetResult()
            try {
                $entry.status_code = [int]$response.StatusCode
                $entry.reachable = $true
            }
            finally {
                $response.Dispose()
                $request.Dispose()
            }
        }
        catch {
            $inner = $_.Exception
            while ($null -ne $inner.InnerException) {
                $inner = $inner.InnerException
            }
            if ($inner -is [System.Threading.Tasks.TaskCanceledException]) {
                $entry.error = "timed out after $TimeoutSeconds s"
            }
            else {
                $entry.error = '{0}: {1}' -f $inner.GetType().Name, $inner.Message
            }
        }
        $entry.elapsed_ms = $watch.ElapsedMilliseconds
        $results.Add($entry)
    }
}
finally {
    $client.Dispose()
}

$Ansible.Result = @{ endpoints = $results.ToArray() }
$Ansible.Changed = $false
