"""Run by the installed Windows Python under Wine: print what PhiWall changed on the machine, as JSON."""

import json
import sys
from pathlib import Path

from agent.platform import proxy_settings, winservice
from agent.platform.registry import HKLM, WinRegistry
from agent.platform.trust import Crypt32RootStore, pem_to_der

reg = WinRegistry()
blob = reg.get(HKLM, proxy_settings.WINHTTP_KEY, proxy_settings.WINHTTP_VALUE)
cert = Path(sys.argv[1]) if len(sys.argv) > 1 else None
report = {
    "settings": {name: reg.get(HKLM, winservice.SETTINGS_KEY, name) for name in winservice.SETTINGS_ENV},
    "image_path": reg.get(HKLM, winservice.SERVICE_KEY, "ImagePath"),
    "pac_url": reg.get(HKLM, proxy_settings.INTERNET_SETTINGS, "AutoConfigURL"),
    "per_user": reg.get(HKLM, proxy_settings.INTERNET_SETTINGS_POLICY, "ProxySettingsPerUser"),
    "winhttp_proxy": proxy_settings.parse_winhttp_blob(blob)[0] if isinstance(blob, bytes) else None,
    "firefox_roots": reg.get(HKLM, r"SOFTWARE\Policies\Mozilla\Firefox\Certificates", "ImportEnterpriseRoots"),
    "ca_in_root_store": Crypt32RootStore().contains(pem_to_der(cert.read_bytes())) if cert else None,
}
print(json.dumps(report))
