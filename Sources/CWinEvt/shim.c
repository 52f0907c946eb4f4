// Empty: a C target needs a source file. See include/CWinEvt.h.
#include "CWinEvt.h"
typedef int cwinevt_unused;
