#Requires -Version 5.1
# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# octopus.ha probe: http-endpoint
#
# Run by ansible.windows.win_powershell from the octopus.ha.node_verify role ON the new Octopus
# Server node. For every external feed and cloud endpoint it sends one GET with NORMAL certificate
# validation (the machine's trusted roots, host name check, revocation as configured). Any HTTP
# answer (also 401, 403 or 404: the feed needs credentials or the path is an API root) proves the
# endpoint is reachable; DNS, TCP, timeout, proxy and TLS trust errors do not.
#
# TLS: the protocol is left to the system default, as Octopus Server does (asking .NET Framework 4.8
# for TLS 1.3 explicitly has known handshake failures). When the handshake fails, the request is
# tried once more on a handler that offers TLS 1.2 only, like the Tentacle probe's fallback. The
# protocols are set on that HttpClientHandler only; [Net.ServicePointManager] is not touched.
#
# Proxy: Proxy = '' uses the default proxy of the identity the probe runs as (its WinINET settings),
# 'none' uses no proxy, and a URL uses that proxy. Set it (node_verify_http_proxy) to what the
# Octopus Server uses (Configuration > Proxy, or Octopus.Server.exe proxy).
#
# Output ($Ansible.Result.endpoints): @{ uri; reachable; status_code; error; elapsed_ms; tls_fallback }

[CmdletBinding()]
param (
    # Each item: @{ name = 'nuget.org'; uri = 'https://api.nuget.org/v3/index.json' }
    [Parameter(Mandatory = $true)]
    [AllowEmptyCollection()]
    [object[]]
    $Endpoints,

    [ValidateRange(1, 300)]
    [int]
    $TimeoutSeconds = 10,

    [string]
    $Proxy = ''
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 2.0

Add-Type -AssemblyName System.Net.Http

function New-ProbeClient {
    param ([switch] $Fallback)
    $handler = [System.Net.Http.HttpClientHandler]::new()
    if ($Fallback -and $handler.PSObject.Properties.Name -contains 'SslProtocols') {
        $handler.SslProtocols = [System.Security.Authentication.SslProtocols]::Tls12
    }
    if ($Proxy -eq 'none') {
        $handler.UseProxy = $false
    }
    elseif ($Proxy -ne '') {
        $handler.Proxy = [System.Net.WebProxy]::new($Proxy)
        $handler.UseProxy = $true
    }
    $handler.AllowAutoRedirect = $true
    $handler.UseDefaultCredentials = $false
    $client = [System.Net.Http.HttpClient]::new($handler)
    $client.Timeout = [TimeSpan]::FromSeconds($TimeoutSeconds)
    $client.DefaultRequestHeaders.UserAgent.ParseAdd('octopus.ha-node-verify')
    return $client
}

function Test-TlsFailure {
    param ([System.Exception] $Exception)
    $current = $Exception
    while ($null -ne $current) {
        if ($current -is [System.Security.Authentication.AuthenticationException]) {
            return $true
        }
        if ($current -is [System.Net.WebException] -and $current.Status -eq [System.Net.WebExceptionStatus]::SecureChannelFailure) {
            return $true
        }
        $current = $current.InnerException
    }
    return $false
}

function Invoke-Probe {
    param ($Client, [string] $Uri)
    $request = [System.Net.Http.HttpRequestMessage]::new([System.Net.Http.HttpMethod]::Get, $Uri)
    try {
        $response = $Client.SendAsync($request, [System.Net.Http.HttpCompletionOption]::ResponseHeadersRead).GetAwaiter().GetResult()
        try {
            return [int]$response.StatusCode
        }
        finally {
            $response.Dispose()
        }
    }
    finally {
        $request.Dispose()
    }
}

$client = New-ProbeClient
$client12 = $null
$results = [System.Collections.Generic.List[object]]::new()
try {
    foreach ($endpoint in $Endpoints) {
        $uri = [string]$endpoint.uri
        $entry = @{
            uri         = $uri
            reachable   = $false
            status_code = $null
            error        = $null
            elapsed_ms   = 0
            tls_fallback = $false
        }
        $watch = [System.Diagnostics.Stopwatch]::StartNew()
        try {
            try {
                $entry.status_code = Invoke-Probe -Client $client -Uri $uri
            }
            catch {
                if (-not (Test-TlsFailure -Exception $_.Exception)) {
                    throw
                }
                # The system default protocols failed the handshake: once more with TLS 1.2 only.
                if ($null -eq $client12) {
                    $client12 = New-ProbeClient -Fallback
                }
                $entry.tls_fallback = $true
                $entry.status_code = Invoke-Probe -Client $client12 -Uri $uri
            }
            $entry.reachable = $true
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
    if ($null -ne $client12) {
        $client12.Dispose()
    }
}

$Ansible.Result = @{ endpoints = $results.ToArray() }
$Ansible.Changed = $false
