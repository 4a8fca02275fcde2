#Requires -Version 5.1
# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# octopus.ha probe: tentacle-tls
#
# Run by ansible.windows.win_powershell from the octopus.ha.node_verify role ON the new Octopus
# Server node. For every listening Tentacle (deployment target or worker) it opens a TCP
# connection to the registered URI, negotiates TLS 1.2 or later and PINS the certificate: the
# per-connection RemoteCertificateValidationCallback of this SslStream accepts the certificate
# only when its SHA1 thumbprint equals the one Octopus registered for that machine (compared
# case-insensitively). It never trusts a certificate blindly and never touches
# [Net.ServicePointManager] (no process-wide callback, no global protocol change).
#
# After a pinned handshake it sends "GET / HTTP/1.1" and reads the status line; a Tentacle answers
# "HTTP/1.0 200 OK" with its "Octopus Tentacle configured successfully" page. A Tentacle that
# requires a client certificate ends the connection after presenting its own: when that certificate
# was the registered one, the result is still "ok" (the pin is what is checked), with a note.
#
# The C# is written for C# 5 (Add-Type in Windows PowerShell 5.1); CI compiles it with
# "mcs -langversion:5" and runs it against openssl s_server (tests/probes/).
#
# Output ($Ansible.Result.targets): one entry per target with
#   uri, expected_thumbprint, status (ok | mismatch | unreachable), presented_thumbprint,
#   http_status_line, error, elapsed_ms
# Nothing is changed on the host ($Ansible.Changed = $false).

[CmdletBinding()]
param (
    # Each item: @{ uri = 'https://host:10933/'; host = 'host'; port = 10933; thumbprint = 'ABC...' }
    [Parameter(Mandatory = $true)]
    [AllowEmptyCollection()]
    [object[]]
    $Targets,

    [ValidateRange(1, 300)]
    [int]
    $TimeoutSeconds = 10
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 2.0

if (-not ('OctopusHa.TentacleProbe' -as [type])) {
    Add-Type -TypeDefinition @'
using System;
using System.IO;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace OctopusHa
{
    public sealed class TentacleProbeResult
    {
        public string Status;
        public string PresentedThumbprint;
        public string HttpStatusLine;
        public string Error;
        public long ElapsedMs;
    }

    public static class TentacleProbe
    {
        // TLS 1.3 is value 12288; the name is missing from older .NET Framework builds.
        private const SslProtocols Tls13 = (SslProtocols)12288;

        public static TentacleProbeResult Probe(string host, int port, string expectedThumbprint, int timeoutMs)
        {
            var result = new TentacleProbeResult();
            var watch = System.Diagnostics.Stopwatch.StartNew();
            string expected = Normalise(expectedThumbprint);
            string presented = null;
            bool mismatch = false;
            TcpClient client = new TcpClient();
            try
            {
                IAsyncResult connect = client.BeginConnect(host, port, null, null);
                if (!connect.AsyncWaitHandle.WaitOne(timeoutMs, false))
                {
                    result.Status = "unreachable";
                    result.Error = String.Format("TCP connection to {0}:{1} timed out after {2} ms", host, port, timeoutMs);
                    return result;
                }
                client.EndConnect(connect);
                client.ReceiveTimeout = timeoutMs;
                client.SendTimeout = timeoutMs;

                // The callback belongs to this one SslStream only: it records the presented certificate and
                // accepts it if and only if its thumbprint is the registered one. Chain and name errors are
                // expected (Tentacle certificates are self-signed, CN=Octopus Tentacle) and are not a reason
                // to accept or refuse: the pin is the trust decision, as in Octopus itself.
                RemoteCertificateValidationCallback pin = delegate (object sender, X509Certificate certificate,
                                                                    X509Chain chain, SslPolicyErrors errors)
                {
                    if (certificate == null)
                    {
                        return false;
                    }
                    presented = Normalise(certificate.GetCertHashString());
                    mismatch = !String.Equals(presented, expected, StringComparison.OrdinalIgnoreCase);
                    return !mismatch && !String.IsNullOrEmpty(expected);
                };

                using (var ssl = new SslStream(client.GetStream(), false, pin))
                {
                    try
                    {
                        Authenticate(ssl, host, SslProtocols.Tls12 | Tls13);
                    }
                    catch (Exception ex)
                    {
                        if (presented != null)
                        {
                            throw;
                        }
                        if (!(ex is ArgumentException || ex is NotSupportedException || ex is AuthenticationException))
                        {
                            throw;
                        }
                        // This OS cannot offer TLS 1.3: retry with TLS 1.2 only on a new connection.
                        ssl.Dispose();
                        client.Close();
                        client = new TcpClient();
                        IAsyncResult again = client.BeginConnect(host, port, null, null);
                        if (!again.AsyncWaitHandle.WaitOne(timeoutMs, false))
                        {
                            throw new TimeoutException("TCP connection timed out on the TLS 1.2 retry");
                        }
                        client.EndConnect(again);
                        client.ReceiveTimeout = timeoutMs;
                        client.SendTimeout = timeoutMs;
                        using (var ssl12 = new SslStream(client.GetStream(), false, pin))
                        {
                            Authenticate(ssl12, host, SslProtocols.Tls12);
                            result.HttpStatusLine = ReadStatusLine(ssl12, host, port);
                        }
                        result.Status = "ok";
                        return result;
                    }
                    result.HttpStatusLine = ReadStatusLine(ssl, host, port);
                }
                result.Status = "ok";
            }
            catch (Exception ex)
            {
                if (!mismatch && presented != null && String.Equals(presented, expected, StringComparison.OrdinalIgnoreCase))
                {
                    // The pinned certificate matched; the Tentacle then ended the handshake or the request because it
                    // requires a client certificate (the Octopus Server's), which this probe does not have.
                    result.Status = "ok";
                    result.Error = String.Format("the registered certificate was presented; the connection then ended ({0}), " +
                                                 "as a Tentacle that requires a client certificate does", Innermost(ex).Message);
                }
                else if (mismatch)
                {
                    result.Status = "mismatch";
                    result.Error = String.Format("the certificate presented has thumbprint {0}, but Octopus registered {1}",
                                                 presented, expected);
                }
                else
                {
                    result.Status = "unreachable";
                    Exception inner = Innermost(ex);
                    result.Error = String.Format("{0}: {1}", inner.GetType().Name, inner.Message);
                }
            }
            finally
            {
                client.Close();
                result.PresentedThumbprint = presented;
                result.ElapsedMs = watch.ElapsedMilliseconds;
            }
            return result;
        }

        private static Exception Innermost(Exception ex)
        {
            while (ex.InnerException != null)
            {
                ex = ex.InnerException;
            }
            return ex;
        }

        private static void Authenticate(SslStream ssl, string host, SslProtocols protocols)
        {
            // No client certificate, no revocation check (self-signed Tentacle certificates have no CRL).
            ssl.AuthenticateAsClient(host, null, protocols, false);
        }

        private static string ReadStatusLine(SslStream ssl, string host, int port)
        {
            byte[] request = Encoding.ASCII.GetBytes(String.Format(
                "GET / HTTP/1.1\r\nHost: {0}:{1}\r\nUser-Agent: octopus.ha-node-verify\r\nConnection: close\r\n\r\n", host, port));
            ssl.Write(request, 0, request.Length);
            ssl.Flush();
            var line = new StringBuilder();
            int b;
            while (line.Length < 256 && (b = ssl.ReadByte()) >= 0 && b != '\n')
            {
                if (b != '\r')
                {
                    line.Append((char)b);
                }
            }
            return line.ToString();
        }

        private static string Normalise(string thumbprint)
        {
            if (String.IsNullOrEmpty(thumbprint))
            {
                return null;
            }
            var sb = new StringBuilder();
            foreach (char c in thumbprint)
            {
                if (Uri.IsHexDigit(c))
                {
                    sb.Append(Char.ToUpperInvariant(c));
                }
            }
            return sb.ToString();
        }
    }
}
'@
}

$timeoutMs = $TimeoutSeconds * 1000
$results = [System.Collections.Generic.List[object]]::new()
foreach ($target in $Targets) {
    $uri = [string]$target.uri
    $targetHost = [string]$target.host
    $port = [int]$target.port
    $thumbprint = [string]$target.thumbprint
    if ([string]::IsNullOrWhiteSpace($targetHost) -or $port -le 0 -or [string]::IsNullOrWhiteSpace($thumbprint)) {
        $results.Add(@{
                uri                  = $uri
                expected_thumbprint  = $thumbprint
                status               = 'unreachable'
                presented_thumbprint = $null
                http_status_line     = $null
                error                = 'the target has no host, port or registered thumbprint'
                elapsed_ms           = 0
            })
        continue
    }
    $probe = [OctopusHa.TentacleProbe]::Probe($targetHost, $port, $thumbprint, $timeoutMs)
    $results.Add(@{
            uri                  = $uri
            expected_thumbprint  = $thumbprint
            status               = $probe.Status
            presented_thumbprint = $probe.PresentedThumbprint
            http_status_line     = $probe.HttpStatusLine
            error                = $probe.Error
            elapsed_ms           = $probe.ElapsedMs
        })
}

$Ansible.Result = @{ targets = $results.ToArray() }
$Ansible.Changed = $false
