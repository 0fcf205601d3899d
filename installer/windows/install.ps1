# PhiWall installer for Windows -- TEMPLATE, UNTESTED (no Windows machine in this project's CI).
# What it must do, mirroring installer/install.sh on Linux:
#   1. Python 3.12 environment under C:\Program Files\PhiWall\venv, phiwall installed from a wheelhouse.
#   2. Proxy CA made on this machine (mitmproxy's CA generation), key readable by SYSTEM only,
#      certificate imported into LocalMachine\Root (Chrome and Edge use it; Firefox via
#      security.enterprise_roots.enabled / the ImportEnterpriseRoots policy).
#   3. The agent as a Windows service (here with the built-in sc.exe wrapping a service host;
#      production should use a proper service wrapper such as WinSW, configured by phiwall-service.xml).
#   4. Proxy settings: a PAC URL via Group Policy (recommended) or per-machine WinINET settings.
#   5. --uninstall equivalent: -Uninstall removes the service, the certificate, the policies and the files.
param(
    [string]$Prefix = "$env:ProgramFiles\PhiWall",
    [string]$DataDir = "$env:ProgramData\PhiWall",
    [string]$Wheelhouse = "",
    [switch]$Uninstall
)
$ErrorActionPreference = "Stop"
$Venv = Join-Path $Prefix "venv"
$CaDir = Join-Path $DataDir "ca"

if ($Uninstall) {
    & sc.exe stop PhiWallAgent | Out-Null
    & sc.exe delete PhiWallAgent | Out-Null
    Get-ChildItem Cert:\LocalMachine\Root | Where-Object { $_.Subject -like "*PhiWall proxy CA*" } | Remove-Item
    Remove-Item -Recurse -Force $Prefix, $DataDir -ErrorAction SilentlyContinue
    Remove-Item "HKLM:\SOFTWARE\Policies\Google\Chrome\ProxyPacUrl" -ErrorAction SilentlyContinue
    exit 0
}

py -3.12 -m venv $Venv
& "$Venv\Scripts\python.exe" -m pip install --no-index --find-links $Wheelhouse phiwall

New-Item -ItemType Directory -Force $CaDir | Out-Null
# Only SYSTEM and Administrators may read the CA key.
icacls $CaDir /inheritance:r /grant:r "SYSTEM:(OI)(CI)F" "Administrators:(OI)(CI)F" | Out-Null
$Cert = & "$Venv\Scripts\python.exe" "$Prefix\libexec\make_ca.py" $CaDir
Import-Certificate -FilePath $Cert -CertStoreLocation Cert:\LocalMachine\Root | Out-Null

& "$Venv\Scripts\python.exe" "$Prefix\libexec\make_pac.py" "$DataDir\proxy.pac"
# Chrome/Edge policy: PAC from the local PAC server (run it as a second service).
New-Item -Force "HKLM:\SOFTWARE\Policies\Google\Chrome" | Out-Null
Set-ItemProperty "HKLM:\SOFTWARE\Policies\Google\Chrome" ProxyMode "pac_script"
Set-ItemProperty "HKLM:\SOFTWARE\Policies\Google\Chrome" ProxyPacUrl "http://127.0.0.1:8079/proxy.pac"
Set-ItemProperty "HKLM:\SOFTWARE\Policies\Google\Chrome" QuicAllowed 0

& sc.exe create PhiWallAgent binPath= "`"$Venv\Scripts\phiwall.exe`" run" start= auto obj= "NT AUTHORITY\LocalService" | Out-Null
& sc.exe start PhiWallAgent | Out-Null
