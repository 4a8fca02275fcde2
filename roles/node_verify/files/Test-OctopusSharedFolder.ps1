#Requires -Version 5.1
# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# octopus.ha probe: shared-folder
#
# Run by ansible.windows.win_powershell from the octopus.ha.node_verify role ON the new Octopus
# Server node. For every shared folder Octopus uses (read from /api/configuration/server-folders/values)
# it checks that the folder exists and that the current identity can create, read back and delete a
# uniquely named probe file in it. The role runs this script as the Octopus service account when it
# can (become); otherwise the identity is the WinRM user, and the report says which one was used.
#
# Use UNC paths: drive letters mapped in a logon session are not visible to the service.
#
# Output ($Ansible.Result): identity, folders = [ @{ name; path; exists; writable; error } ]
# The probe file is always removed; nothing else is changed ($Ansible.Changed = $false).

[CmdletBinding()]
param (
    # Folder name (LogsDirectory, ArtifactsDirectory, PackagesDirectory, ...) -> path
    [Parameter(Mandatory = $true)]
    [System.Collections.IDictionary]
    $Folders
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 2.0

$identity = [System.Security.Principal.WindowsIdentity]::GetCurrent().Name
$results = [System.Collections.Generic.List[object]]::new()

foreach ($name in @($Folders.Keys | Sort-Object)) {
    $path = [string]$Folders[$name]
    $entry = @{
        name     = [string]$name
        path     = $path
        exists   = $false
        writable = $false
        error    = $null
    }
    try {
        if ([string]::IsNullOrWhiteSpace($path)) {
            throw 'the API returned an empty path'
        }
        if (-not (Test-Path -LiteralPath $path -PathType Container)) {
            throw "the folder does not exist or is not reachable as $identity"
        }
        $entry.exists = $true
        $probeFile = Join-Path -Path $path -ChildPath ('.octopus-ha-probe-{0}.tmp' -f [guid]::NewGuid().ToString('N'))
        $content = 'octopus.ha node_verify {0}' -f [DateTime]::UtcNow.ToString('o')
        try {
            [System.IO.File]::WriteAllText($probeFile, $content)
            $readBack = [System.IO.File]::ReadAllText($probeFile)
            if ($readBack -ne $content) {
                throw 'the probe file read back differs from what was written'
            }
            $entry.writable = $true
        }
        finally {
            if (Test-Path -LiteralPath $probeFile) {
                Remove-Item -LiteralPath $probeFile -Force -ErrorAction SilentlyContinue
                if (Test-Path -LiteralPath $probeFile) {
                    $entry.writable = $false
                    $entry.error = "the probe file $probeFile could not be deleted"
                }
            }
        }
    }
    catch {
        $entry.error = $_.Exception.Message
    }
    $results.Add($entry)
}

$Ansible.Result = @{
    identity = $identity
    folders  = $results.ToArray()
}
$Ansible.Changed = $false
