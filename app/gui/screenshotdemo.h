#pragma once

#include <QString>

namespace ts {

class App;

// `towersearch --screenshot-demo PHOTOS --model M --screenshot-out OUT`: the scripted tour for the
// README's screenshots (resources/screenshots/take-screenshots.sh). Over an empty, throw-away
// library it loads the model at once, adds PHOTOS, and saves into OUT: the empty library, indexing,
// search results, fill-mask, the library by month, filter chips with Describe. Runs the event loop
// and returns the exit code: 0 when all were taken, 1 when the model cannot be loaded or the tour
// takes over 3 minutes.
int runScreenshotDemo(App &app, const QString &photos, const QString &modelDir,
                      const QString &outDir);

} // namespace ts
