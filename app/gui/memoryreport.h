#pragma once

#include <QString>

namespace ts {

class App;

// `towersearch --memory-report TEXT`, for the memory benchmark (tests/app/bench_memory): the normal
// start (window, model loaded in the background, library rescanned), then one caption search for
// TEXT with its rerank; 3 s after it finished, prints the idle memory (VmRSS, VmHWM) on stdout and
// quits. Runs the event loop and returns the exit code (1 when the search fails or it takes over
// 10 minutes). The caller starts loading the model.
int runMemoryReport(App &app, const QString &caption);

} // namespace ts
