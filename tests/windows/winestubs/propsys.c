/* Test-only stand-in for propsys.dll under Wine 8, whose VariantToString is a stub that aborts.
 * CPython's _wmi module (reached by `platform`) formats every WMI value with it. Every other
 * export forwards to Wine's own propsys, copied into the prefix as wineprops.dll (conftest.py
 * generates the forwarders). Real Windows' propsys has it. */
#include <windows.h>
#include <oleauto.h>

__declspec(dllexport) HRESULT WINAPI VariantToString(const VARIANT *in, WCHAR *out, UINT size) {
    VARIANT text;
    HRESULT hr;
    UINT i;
    if (!out || !size) return E_INVALIDARG;
    out[0] = 0;
    VariantInit(&text);
    hr = VariantChangeType(&text, (VARIANT *)in, 0, VT_BSTR);
    if (FAILED(hr)) return hr;
    for (i = 0; text.bstrVal && text.bstrVal[i] && i + 1 < size; i++) out[i] = text.bstrVal[i];
    out[i] = 0;
    hr = (text.bstrVal && text.bstrVal[i]) ? HRESULT_FROM_WIN32(ERROR_INSUFFICIENT_BUFFER) : S_OK;
    VariantClear(&text);
    return hr;
}
