// The Windows Event Log API (winevt.h), which Swift's WinSDK module does not include.
// Empty on other platforms: only the Windows build of the edge uses it.
#ifndef CWINEVT_H
#define CWINEVT_H
#if defined(_WIN32)
#include <windows.h>
#include <winevt.h>
#endif
#endif
