/* Test-only keep-alive for the Wine session (tests/windows/conftest.py): sleeps until killed. */
#include <windows.h>

int main(void) {
    Sleep(INFINITE);
    return 0;
}
