#Requires -Version 5.1
# Copyright: Contributors to the octopus.ha collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# octopus.ha probe: url-acl
#
# Run by ansible.windows.win_powershell from the octopus.ha.server_configure role. A service account
# that is not an administrator may only listen on an HTTP.sys prefix that is reserved for it
# ("netsh http add urlacl"). For every listen prefix this adds the reservation for the service
# account where it is missing, and replaces a reservation held by another account. The account is
# compared by SID in the reservation's SDDL, which netsh prints the same in every language.
#
# Output ($Ansible.Result): added, replaced, kept (URLs). $Ansible.Changed only when one was added
# or replaced.

[CmdletBinding()]
param (
    # Each item: @{ url = 'http://+:80/'; user = 'CORP\octopus$' }
    [Parameter(Mandatory = $true)]
    [AllowEmptyCollection()]
    [object[]]
    $Reservations
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 2.0

function Get-AccountSid {
    param ([string] $Account)
    $ntAccount = New-Object -TypeName System.Security.Principal.NTAccount -ArgumentList $Account
    return $ntAccount.Translate([System.Security.Principal.SecurityIdentifier]).Value
}

function Invoke-Netsh {
    param ([string[]] $Arguments)
    $output = & netsh.exe @Arguments 2>&1 | Out-String
    return @{ ExitCode = $LASTEXITCODE; Output = $output }
}

$added = [System.Collections.Generic.List[string]]::new()
$replaced = [System.Collections.Generic.List[string]]::new()
$kept = [System.Collections.Generic.List[string]]::new()

foreach ($reservation in $Reservations) {
    $url = [string]$reservation.url
    $sid = Get-AccountSid -Account ([string]$reservation.user)
    $sddl = 'D:(A;;GX;;;{0})' -f $sid
    $current = Invoke-Netsh -Arguments @('http', 'show', 'urlacl', "url=$url")
    $reserved = $current.Output -match 'D:\('
    if ($reserved -and $current.Output -match [regex]::Escape(";;;$sid)")) {
        $kept.Add($url)
        continue
    }
    if ($reserved -and -not $Ansible.CheckMode) {
        $delete = Invoke-Netsh -Arguments @('http', 'delete', 'urlacl', "url=$url")
        if ($delete.ExitCode -ne 0) {
            throw "netsh http delete urlacl url=$url failed ($($delete.ExitCode)): $($delete.Output.Trim())"
        }
    }
    if (-not $Ansible.CheckMode) {
        $add = Invoke-Netsh -Arguments @('http', 'add', 'urlacl', "url=$url", "sddl=$sddl")
        if ($add.ExitCode -ne 0) {
            throw "netsh http add urlacl url=$url failed ($($add.ExitCode)): $($add.Output.Trim())"
        }
    }
    if ($reserved) {
        $replaced.Add($url)
    }
    else {
        $added.Add($url)
    }
}

$Ansible.Result = @{
    added    = $added.ToArray()
    replaced = $replaced.ToArray()
    kept     = $kept.ToArray()
}
$Ansible.Changed = ($added.Count + $replaced.Count) -gt 0
