#pragma once

namespace ts {

// The start-up report (TOWERSEARCH_STARTUP_REPORT=1 in the environment): prints "startup: WHAT
// after N ms" on stderr the first time each milestone is reached, counted from the process's start
// (dynamic loading of LibTorch and Qt included, which the user waits for too). Does nothing when
// the variable is not set. GUI thread only.
void startupMilestone(const char *what);

} // namespace ts
